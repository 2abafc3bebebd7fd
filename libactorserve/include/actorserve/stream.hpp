/// @file
/// Streams of typed chunks between deployments, Ray Serve's generators
/// (`handle.options(stream=True)`) as a credit-based message flow.
///
/// A method streams by answering with a `stream<T>`; its interface says so:
/// `caf::replies_to<std::string>::with<actorserve::stream<std::string>>`.
/// The handler makes the stream with one of two producers:
/// ```cpp
/// // Asynchronous: called on the replica's actor whenever the consumer has
/// // room; push, pause, close. Holds no thread while paused.
/// return make_stream<std::string>(self, [i = 0, n](stream_out<std::string>&
/// out) mutable {
///   if (i == n)
///     return out.close();
///   out.push("token " + std::to_string(i++));
///   out.pause(std::chrono::milliseconds(10));
/// });
/// // Blocking (a sync generator): runs on the replica's blocking threads;
/// // push() waits while the consumer is a window behind and returns false
/// // once the stream was cancelled.
/// return make_blocking_stream<std::string>(self, [n](stream_sink<std::string>&
/// out) {
///   for (int i = 0; i < n; ++i)
///     if (!out.push(expensive_token(i)))
///       return;
/// });
/// ```
/// A caller consumes it chunk by chunk: another deployment with
/// `consume(self, s, on_chunk, on_end)`, `main()` with `read_stream(s)`
/// (stream_reader.hpp), the HTTP ingress through `sse_response(s)` or
/// `chunked_response(s)`. Consuming with the wrong chunk type does not
/// compile: `stream<T>` carries `T`.
///
/// Backpressure: the consumer grants a window of credit (16 chunks unless
/// it says otherwise) and returns credit as it finishes chunks; the
/// producer never sends more than that, so a slow consumer slows the
/// producer and the memory in flight is bounded by the window.
///
/// Cancellation: a consumer that cancels (`on_chunk` returns false) or goes
/// away stops the producer at its next chunk; the stream's request is
/// cancelled with it (`is_cancelled(self)`, `on_cancel`), and so are the
/// calls made for it. The replica's slot comes back either way.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/make_message.hpp>

#include "actorserve/error.hpp"
#include "actorserve/handle.hpp"
#include "actorserve/http_types.hpp"
#include "actorserve/stream_core.hpp"
#include "actorserve/replica_api.hpp"

namespace actorserve {

/// A stream of chunks of type `T`: what a streaming method answers with.
template <class T>
class stream {
public:
  using value_type = T;

  stream() = default;
  explicit stream(stream_ref ref) : ref_(std::move(ref)) {}

  const stream_ref& ref() const noexcept { return ref_; }

  explicit operator bool() const noexcept { return static_cast<bool>(ref_); }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f, stream& x) {
    return inspect(f, x.ref_);
  }

private:
  stream_ref ref_;
};

/// Wakes a suspended asynchronous producer (`stream_out::suspend`); safe
/// to call from any thread, and more than once.
class stream_waker {
public:
  stream_waker() = default;
  stream_waker(caf::weak_actor_ptr producer, uint64_t id, uint64_t epoch)
      : producer_(std::move(producer)), id_(id), epoch_(epoch) {}

  void operator()() const;

private:
  caf::weak_actor_ptr producer_;
  uint64_t id_ = 0;
  uint64_t epoch_ = 0;
};

namespace detail {

void stream_wake_after(outbound& st, caf::timespan d, uint64_t epoch);
stream_waker stream_waker_of(outbound& st, uint64_t epoch);

/// Registers `st` with the producing actor `self` (inside a handler); the
/// stream holds one of the replica's slots until it ends.
stream_ref add_stream(caf::local_actor* self, std::unique_ptr<outbound> st);

/// Ends stream `st` at its producer: tells the consumer, gives the slot
/// back, forgets the stream. Destroys `st`.
void end_stream(outbound& st, caf::error err);

/// Sends `(stream_batch_atom, tag, chunks)` to the consumer.
void send_batch(outbound& st, caf::message chunks);

/// A generator threw `eptr`: the stream ends with that error.
void generator_failed(outbound& st, std::exception_ptr eptr);

/// Runs user code `f` of stream `st` in the context of its request.
/// Returns false when it threw (the stream is then done, with the error).
template <class F>
bool run_generator(outbound& st, F&& f) {
  restore_context ctx{st.self, st.context};
  try {
    f();
    return true;
  } catch (...) {
    generator_failed(st, std::current_exception());
    return false;
  }
}

/// What the producer's generator state looks like to `stream_out`.
template <class T>
struct generator_state : outbound {
  std::vector<T> batch;

  /// Sends the batch, and the end once done. May destroy `*this`.
  void flush() {
    if (!batch.empty()) {
      auto chunks = std::move(batch);
      batch.clear();
      send_batch(*this, caf::make_message(stream_batch_atom::value, tag,
                                          std::move(chunks)));
    }
    if (done)
      end_stream(*this, std::move(err));
  }
};

} // namespace detail

/// What an asynchronous generator writes to. Valid only during the call.
template <class T>
class stream_out {
public:
  explicit stream_out(detail::generator_state<T>& st) : st_(st) {}

  /// Chunks that may be pushed in this call.
  uint32_t capacity() const noexcept { return st_.credit; }

  /// Appends a chunk. Throws `std::logic_error` past `capacity()`.
  void push(T x) {
    if (st_.credit == 0)
      throw std::logic_error("stream_out::push past the consumer's window");
    st_.batch.push_back(std::move(x));
    --st_.credit;
  }

  /// Ends the stream after the chunks pushed so far.
  void close() { st_.done = true; }

  /// Ends the stream with an error after the chunks pushed so far.
  void fail(caf::error err) {
    st_.done = true;
    st_.err = std::move(err);
  }

  /// Calls the generator again no sooner than `d` from now.
  template <class Rep, class Period>
  void pause(std::chrono::duration<Rep, Period> d) {
    st_.paused = true;
    detail::stream_wake_after(st_, std::chrono::duration_cast<caf::timespan>(d),
                              ++st_.epoch);
  }

  /// Calls the generator again only once the returned waker is called
  /// (from a continuation of a call it made, for example).
  stream_waker suspend() {
    st_.paused = true;
    return detail::stream_waker_of(st_, ++st_.epoch);
  }

private:
  detail::generator_state<T>& st_;
};

namespace detail {

template <class T, class Gen>
class async_outbound final : public generator_state<T> {
public:
  explicit async_outbound(Gen gen) : gen_(std::move(gen)) {}

  void on_open() override { pump(); }
  void on_credit() override { pump(); }
  void on_wake() override {
    this->paused = false;
    pump();
  }
  void on_cancel() override {
    end_stream(*this, make_error(errc::cancelled, "the stream was cancelled"));
  }
  void on_exit() override {}

private:
  void pump() {
    // At most one call per chunk of credit per turn; the batch goes out
    // in one message.
    for (auto rounds = this->credit;
         rounds > 0 && this->credit > 0 && !this->paused && !this->done;
         --rounds) {
      auto before = this->batch.size();
      stream_out<T> out{*this};
      if (!run_generator(*this, [&] { gen_(out); }))
        break;
      if (this->batch.size() == before && !this->paused && !this->done) {
        // Pushed nothing and asked for nothing: try again on a later turn.
        this->paused = true;
        stream_wake_after(*this, caf::timespan{0}, ++this->epoch);
        break;
      }
    }
    this->flush();
  }

  Gen gen_;
};

} // namespace detail

/// Makes a stream whose chunks `gen(stream_out<T>&)` produces on the
/// replica's actor. Call it in a handler and answer with the result.
template <class T, class Self, class Gen>
stream<T> make_stream(Self* self, Gen gen) {
  return stream<T>{detail::add_stream(
      self, std::make_unique<detail::async_outbound<T, Gen>>(std::move(gen)))};
}

} // namespace actorserve

#include "actorserve/stream_blocking.hpp"
#include "actorserve/stream_consume.hpp"
