/// @file
/// A replica's blocking work (the framework side of `run_blocking`): the
/// pool of threads it runs on, the response promise a job answers through,
/// and the way back onto the replica's user actor.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/fwd.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/weak_intrusive_ptr.hpp>

namespace actorserve::detail {

/// Threads that run blocking work for one replica. Grows on demand up to a
/// limit; the threads stay until the replica stops.
class blocking_pool {
public:
  /// Under CAF's test coordinator (`sys` uses one) the pool has no threads:
  /// each job becomes a coordinator job, so deterministic tests run blocking
  /// work (and user health checks) step by step. `thread_name` names its
  /// threads.
  blocking_pool(size_t max_threads, caf::actor_system& sys,
                std::string thread_name = "as-blocking");
  ~blocking_pool();
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  void submit(std::function<void()> job);

  /// Drops the jobs that have not started (their requests are answered by
  /// their reply guards) and lets the threads go: a thread still running
  /// user code finishes it on its own and ends, and nothing waits for it.
  /// Returns how many threads were still running a job.
  size_t stop();

private:
  struct state;
  static void run(const std::shared_ptr<state>& st);

  size_t max_threads_;
  std::shared_ptr<state> state_;
  /// The test coordinator, when `sys` runs one; null otherwise.
  caf::scheduler::abstract_coordinator* virtual_ = nullptr;
};

// handle.hpp: the current request's context, and answering through it.
caf::strong_actor_ptr context_token(caf::local_actor* self);
void answer_context(const caf::strong_actor_ptr& token, caf::message msg);

/// The response promise of a blocking job, where its actor can drop it. A
/// job left running at shutdown must not keep the promise alive (and with
/// it the caller): the job holds the slot, the actor holds the promise, and
/// only the actor's thread touches it.
struct promise_slot_base {
  virtual ~promise_slot_base();
  /// Lets the promise go; its reply guard answers the request.
  virtual void drop() = 0;
};

template <class Promise>
struct promise_slot : promise_slot_base {
  /// `token`: the context of the request to answer when `p` is not a
  /// pending promise (run_blocking inside a continuation).
  promise_slot(Promise p, caf::strong_actor_ptr token)
      : rp(std::move(p)), token(std::move(token)) {}

  void drop() override {
    rp = Promise{};
    token = nullptr;
  }

  template <class T>
  void deliver(T&& x) {
    if (rp.pending())
      rp.deliver(std::forward<T>(x));
    else if constexpr (std::is_same<std::decay_t<T>, caf::unit_t>::value)
      answer_context(token, caf::make_message());
    else
      answer_context(token, caf::make_message(std::forward<T>(x)));
  }

  Promise rp;
  caf::strong_actor_ptr token;
};

/// Answers that blocking jobs hand back to their actor.
struct completion_box {
  std::mutex mtx;
  std::vector<std::function<void()>> done;
};

/// Runs closures inside a user actor, posted from any thread: the way back
/// from blocking jobs and from async work the user completes elsewhere.
/// Holds only a weak reference to the actor.
class completion_poster {
public:
  completion_poster() = default;
  completion_poster(caf::weak_actor_ptr addr,
                    std::shared_ptr<completion_box> box)
      : addr_(std::move(addr)), box_(std::move(box)) {}

  /// Queues `f` to run on the actor's thread; false (and `f` dropped, not
  /// run) when the actor is gone.
  bool post(std::function<void()> f) const;

private:
  caf::weak_actor_ptr addr_;
  std::shared_ptr<completion_box> box_;
};

} // namespace actorserve::detail
