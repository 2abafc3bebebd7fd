/// @file
/// Blocking stream producers (Ray Serve's sync generators): the generator
/// runs on one of the replica's blocking threads, never on its actor.
/// Included by stream.hpp.
#pragma once

#include <condition_variable>
#include <mutex>

#include "actorserve/stream.hpp"

namespace actorserve {

namespace detail {

/// Shared by a blocking stream's actor side and its thread.
struct sink_state {
  std::mutex mtx;
  std::condition_variable cv;
  uint32_t credit = 0;
  bool cancelled = false;
  caf::actor consumer;
  caf::strong_actor_ptr producer;
  uint64_t tag = 0;

  /// Waits for credit; false once cancelled.
  bool take_credit();

  /// Sends one batch message to the consumer (any thread).
  void send(caf::message chunks);

  void cancel();
};

/// Runs `job` on the replica's blocking threads; `done(err)` then runs on
/// the actor with what the job threw (none when it returned).
void run_stream_job(outbound& st, std::function<void()> job);

} // namespace detail

/// What a blocking generator writes to, on its blocking thread.
template <class T>
class stream_sink {
public:
  explicit stream_sink(std::shared_ptr<detail::sink_state> st)
      : st_(std::move(st)) {}

  /// Sends a chunk; waits while the consumer is a window behind. Returns
  /// false, without sending, once the stream was cancelled: return then.
  bool push(T x) {
    if (!st_->take_credit())
      return false;
    std::vector<T> one;
    one.push_back(std::move(x));
    st_->send(
        caf::make_message(stream_batch_atom::value, st_->tag, std::move(one)));
    return true;
  }

  /// Whether the consumer cancelled or went away.
  bool cancelled() const {
    std::lock_guard<std::mutex> guard{st_->mtx};
    return st_->cancelled;
  }

private:
  std::shared_ptr<detail::sink_state> st_;
};

namespace detail {

template <class T, class F>
class blocking_outbound final : public outbound {
public:
  explicit blocking_outbound(F f)
      : f_(std::move(f)), sink_(std::make_shared<sink_state>()) {}

  void on_open() override {
    {
      std::lock_guard<std::mutex> guard{sink_->mtx};
      sink_->credit = credit;
      sink_->consumer = consumer;
      sink_->producer = self->ctrl();
      sink_->tag = tag;
    }
    credit = 0;
    // The generator's thread starts only now: an unopened stream holds no
    // thread.
    run_stream_job(*this, [sink = sink_, f = f_]() mutable {
      stream_sink<T> out{sink};
      f(out);
    });
  }

  void on_credit() override {
    {
      std::lock_guard<std::mutex> guard{sink_->mtx};
      sink_->credit += credit;
    }
    credit = 0;
    sink_->cv.notify_all();
  }

  void on_wake() override {}

  void on_cancel() override {
    sink_->cancel();
    // Not started: nothing runs, end now. Started: the job ends at its
    // next push, and its completion ends the stream.
    if (!opened)
      end_stream(*this,
                 make_error(errc::cancelled, "the stream was cancelled"));
  }

  void on_exit() override { sink_->cancel(); }

private:
  F f_;
  std::shared_ptr<sink_state> sink_;
};

} // namespace detail

/// Makes a stream whose chunks `f(stream_sink<T>&)` produces on one of the
/// replica's blocking threads (at most `max_ongoing_requests` run at once).
/// Returning ends the stream; throwing ends it with `user_error`.
template <class T, class Self, class F>
stream<T> make_blocking_stream(Self* self, F f) {
  return stream<T>{detail::add_stream(
      self, std::make_unique<detail::blocking_outbound<T, F>>(std::move(f)))};
}

} // namespace actorserve
