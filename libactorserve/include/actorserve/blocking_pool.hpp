/// @file
/// A replica's blocking work (the framework side of `run_blocking`): the
/// pool of threads it runs on, the response promise a job answers through,
/// and the way back onto the replica's user actor.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
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

/// Counters of one replica's user code, for its health probes
/// (`watch_progress` in health.hpp): written by the user actor's thread and
/// its blocking pool, read by the replica's system side at each probe.
struct replica_activity {
  /// Messages the user actor began, and ended (its thread only).
  std::atomic<uint64_t> begun{0};
  std::atomic<uint64_t> ended{0};
  /// Streams the user actor produces now (its thread only).
  std::atomic<uint32_t> streams{0};
  /// Blocking jobs that started, and that wait for a thread (the pool's,
  /// under its lock).
  std::atomic<uint64_t> jobs_started{0};
  std::atomic<uint64_t> jobs_waiting{0};

  /// Adds one to a counter that only its one writer changes: no atomic
  /// read-modify-write on the path of every message.
  static void bump(std::atomic<uint64_t>& c) noexcept {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

/// Threads that run blocking work: one replica's (`run_blocking`, blocking
/// streams and batches, model loads), or the user health checks of every
/// replica of an actor system (`probe_pool`). Grows on demand up to a
/// limit, which may change while it runs; the threads stay until the pool
/// stops, or until they idled for `retire_after` when that is set.
class blocking_pool {
public:
  /// Under CAF's test coordinator (`sys` uses one) the pool has no threads:
  /// each job becomes a coordinator job, so deterministic tests run blocking
  /// work (and user health checks) step by step. `thread_name` names its
  /// threads.
  /// `activity`, when set, counts the jobs that started and wait.
  blocking_pool(size_t max_threads, caf::actor_system& sys,
                std::string thread_name = "as-blocking",
                std::chrono::milliseconds retire_after = {},
                std::shared_ptr<replica_activity> activity = nullptr);
  ~blocking_pool();
  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  void submit(std::function<void()> job);

  /// A new limit (a reconfigured `max_ongoing_requests`): a raised one
  /// starts threads for jobs waiting now; above a lowered one, threads end
  /// as they finish their jobs, so no more than `n` run jobs from then on.
  void set_max_threads(size_t n);

  /// Drops the jobs that have not started (their requests are answered by
  /// their reply guards) and lets the threads go: a thread still running
  /// user code finishes it on its own and ends, and nothing waits for it.
  /// Returns how many threads were still running a job.
  size_t stop();

private:
  struct state;
  static void run(const std::shared_ptr<state>& st);
  /// Starts a thread for each waiting job no idle thread will take, up to
  /// the limit (under the lock).
  static void grow(const std::shared_ptr<state>& st);

  std::shared_ptr<state> state_;
  /// The test coordinator, when `sys` runs one; null otherwise.
  caf::scheduler::abstract_coordinator* virtual_ = nullptr;
};

/// The threads that run user health checks (`on_health_check`) for every
/// replica of `sys`, apart from the replicas' own blocking threads, so
/// that a replica whose blocking threads are all taken (by streams, say)
/// still answers its probes. Grows while checks wait and no thread is
/// free (each replica has at most one check running); threads that idled
/// for a second end. Shared while a returned reference lives.
std::shared_ptr<blocking_pool> probe_pool(caf::actor_system& sys);

/// The most threads `probe_pool` runs at once.
constexpr size_t max_probe_threads = 1024;

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
