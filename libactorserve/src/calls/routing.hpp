/// @file
/// Per-caller routing, as in Ray Serve, where a router lives in every proxy
/// and every handle.
///
/// A `caller_router` is one caller's routing state for one deployment:
/// which replicas exist (from the deployment's `endpoint`), how many calls
/// this caller has in flight at each, which replicas reported themselves
/// full, and the calls waiting for room. It holds no lock and sends no
/// message itself: a host (an HTTP ingress thread, a replica's user actor,
/// the gateway actor) owns it, calls it from one thread at a time, and
/// carries out what it decides through a `call_sink`. Nothing here is shared
/// between callers except the endpoint's read-mostly snapshot and, for the
/// ingress, a queue budget touched only when every replica is full.
///
/// The rules, each a Ray Serve rule:
///  - power of two choices over the loads this caller knows
///    (`pick_two`); for replicas in this process that is the replica's own
///    count of running calls, read from its admission gate (admission.hpp),
///    where the caller also takes the call's slot before it sends;
///  - a replica that rejects (full, starting, draining) reports how many
///    calls it runs; the caller treats it as full until it answers one of
///    this caller's calls or the retry timer fires, and tries another;
///  - calls wait FIFO while every replica is full, at most
///    `max_queued_requests` per caller; past that, `overloaded`;
///  - a waiting call whose deadline passes fails with `deadline_exceeded`;
///  - a deployment that scales from zero and has no replica holds calls
///    waiting (bounded by their deadlines) until one is ready;
///  - a call for a multiplexed model goes to a replica that holds it, else
///    to one holding the fewest models (`prefer_model`), else anywhere;
///  - among those, replicas in this process first while they have room,
///    then replicas on other nodes (locality-aware routing);
///  - replica-set changes lose nothing: waiting calls go to the new set,
///    calls in flight finish where they are.
#pragma once

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <caf/actor_control_block.hpp>
#include <caf/error.hpp>
#include <caf/message.hpp>
#include <caf/type_erased_tuple.hpp>
#include <caf/response_promise.hpp>
#include <caf/timespan.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/endpoint.hpp"
#include "actorserve/messages.hpp"

namespace actorserve {

/// One call as a caller routes it.
struct routed_call {
  /// The host's id for the call (a CAF request id, or the ingress's).
  uint64_t token = 0;
  request_meta meta;
  /// Kept until the call is answered, so that a rejected call can be sent
  /// again; except while `args_lent`.
  caf::message args;
  /// The call went through the gate, and its arguments with it (the user
  /// actor then owns them alone, so a handler that takes them by mutable
  /// reference gets them without a copy). A bounce brings them back
  /// (reply_guard.hpp).
  bool args_lent = false;
  /// Where the answer goes, for hosts that answer through a promise (the
  /// gateway, delegated calls); empty otherwise.
  caf::response_promise promise;
  /// Replicas that rejected this call since it last waited.
  std::vector<uint64_t> tried;
  /// The replica the call is in flight at.
  uint64_t replica = 0;
  /// The slot the call holds at that replica's gate, when it went straight
  /// to the user actor; the host gives it back when the answer arrives.
  detail::gate_ptr gate;
  /// The replica on another node it went to (its host watches that
  /// replica, and sends a cancel there); null for a replica of this process.
  caf::actor remote;
  /// Whether the call holds, or held, a queue slot.
  bool waited = false;
  /// The request this call was made for, when a replica's handler made it
  /// (its reply guard; compared, never followed): cancelling that request
  /// cancels this call too.
  const void* parent = nullptr;
  /// The reply guard the call went out with, when it went straight to the
  /// user actor; weak, so the guard still notices a dropped promise.
  caf::weak_actor_ptr guard;
};

using call_ptr = std::unique_ptr<routed_call>;

/// What a host does for its `caller_router`. The router never calls back
/// into itself through these; a host must not call the router from them.
class call_sink {
public:
  virtual ~call_sink();

  /// Sends `call` to `replica` and keeps it until the answer comes: as
  /// `args` alone to the user actor when `call->gate` is set (the call holds
  /// a slot there), else as `(call_atom, meta, args)` to the replica actor.
  virtual void dispatch(call_ptr call, const replica_ref& replica) = 0;

  /// Answers `call` with `err`; it never reached a replica that ran it.
  virtual void fail(call_ptr call, caf::error err) = 0;

  /// Calls `caller_router::on_retry` after `delay`.
  virtual void arm_retry(caf::timespan delay) = 0;
};

/// How many calls of one caller wait; shared by the threads of a caller that
/// spans several (the HTTP ingress).
using queue_budget = std::atomic<int64_t>;

/// What an answer from a replica means to the caller.
enum class reply_kind : uint8_t {
  /// A value, or an error the call itself produced: deliver it.
  answer,
  /// The replica did not run the call (full, not ready, draining, or gone
  /// before it started): route it again.
  rejected,
};

/// Classifies `reply`. For `rejected`, `reported` is the replica's count of
/// calls running (0 when it did not say), and `returned` the call's
/// arguments when the reply brought them back (a bounce passed on by a
/// reply guard, `(error, caf::message)`), else empty.
reply_kind classify_reply(const caf::type_erased_tuple& reply,
                          uint32_t& reported, caf::message& returned);

class caller_router {
public:
  /// How long to wait before probing full replicas again (Ray Serve's
  /// initial routing backoff).
  static constexpr auto retry_backoff = std::chrono::milliseconds(25);

  /// `budget` counts waiting calls; pass one shared budget to every part of
  /// one caller. Null: this router's own.
  caller_router(endpoint_ptr ep, call_sink& sink, uint64_t seed,
                std::shared_ptr<queue_budget> budget = nullptr);

  /// Gives back the queue slots of waiting calls (the host fails them
  /// first with `fail_waiting` if it wants them answered).
  ~caller_router();

  caller_router(const caller_router&) = delete;
  caller_router& operator=(const caller_router&) = delete;

  /// Routes a new call: to a replica now, into the queue, or failed
  /// (`unavailable` with no replicas, `overloaded` with the queue full).
  void submit(call_ptr call);

  /// A replica answered a call of ours (not a rejection): it has room.
  void answered(uint64_t replica);

  /// The replica did not run `call`; `reported` is its running count.
  void rejected(call_ptr call, uint32_t reported);

  /// The retry timer fired.
  void on_retry();

  /// The endpoint may have changed: route waiting calls now.
  void update();

  /// Fails every waiting call with `err`.
  void fail_waiting(const caf::error& err);

  /// Takes the waiting calls for which `pred(call)` holds out of the
  /// queue (they never ran) and returns them.
  template <class Pred>
  std::vector<call_ptr> take_waiting(Pred pred) {
    std::vector<call_ptr> result;
    for (auto i = queue_.begin(); i != queue_.end();) {
      if (pred(**i)) {
        result.push_back(std::move(*i));
        i = queue_.erase(i);
        give_slot();
      } else {
        ++i;
      }
    }
    return result;
  }

  size_t waiting() const noexcept { return queue_.size(); }

  uint32_t in_flight() const noexcept { return in_flight_; }

private:
  struct slot {
    replica_ref ref;
    /// Calls of this caller in flight at the replica.
    uint32_t in_flight = 0;
    /// Load this caller cannot see (other callers): "full" after a
    /// rejection, cleared by an answer or the retry timer. Unused with a
    /// gate, which shows every caller's load.
    uint32_t others = 0;
    /// What power of two choices compares.
    uint32_t load() const noexcept;
  };

  /// Takes the endpoint's snapshot if it changed. Returns false when there
  /// is nowhere to route (no replicas, or removed).
  bool refresh();
  slot* find(uint64_t id) noexcept;
  bool try_dispatch(call_ptr& call);
  /// Sends `call` to the less loaded of two random `candidates` that
  /// admits it; false when none does.
  /// Dispatches to a replica in this process if one has room, else to one
  /// on another node.
  bool dispatch_nearest(call_ptr& call, std::vector<size_t>& candidates,
                        std::vector<uint32_t>& loads);
  bool dispatch_among(call_ptr& call, std::vector<size_t>& candidates,
                      std::vector<uint32_t>& loads);
  /// Puts `call` in line (at the front when it was first in line), or fails
  /// it as overloaded.
  void wait(call_ptr call, bool front);
  void pump();
  void arm();
  bool take_slot(bool force);
  void give_slot();
  caf::error no_replicas() const;
  /// The set is empty but the deployment scales from zero: calls wait.
  bool cold() const noexcept;
  /// Fails the waiting calls whose deadline passed.
  void expire_waiting();

  endpoint_ptr ep_;
  call_sink& sink_;
  std::shared_ptr<queue_budget> budget_;
  uint64_t version_ = 0;
  std::shared_ptr<const replica_set> set_;
  std::vector<slot> slots_;
  std::deque<call_ptr> queue_;
  std::mt19937_64 rng_;
  uint32_t in_flight_ = 0;
  bool retry_armed_ = false;
};

namespace detail {

/// Power-of-two-choices: given the load of each candidate, draws two distinct
/// candidates with `draw(n)` (uniform in [0, n)) and returns the index of the
/// less loaded one. `loads` must not be empty.
template <class Draw>
size_t pick_two(const std::vector<uint32_t>& loads, Draw&& draw) {
  auto n = loads.size();
  if (n == 1)
    return 0;
  auto a = static_cast<size_t>(draw(n));
  auto b = static_cast<size_t>(draw(n - 1));
  if (b >= a)
    ++b;
  return loads[b] < loads[a] ? b : a;
}

/// Model-aware routing (Ray's multiplex rule), as a pure function: splits
/// `candidates` (with their `loads`) into the preferred ones, left in
/// `candidates`, and the rest, moved to `rest`. Preferred: those whose
/// model ids (`models_of(candidate)`, null when unknown) include `model`;
/// if none does, those holding the fewest models.
template <class ModelsOf>
void prefer_model(const std::string& model, std::vector<size_t>& candidates,
                  std::vector<uint32_t>& loads, std::vector<size_t>& rest,
                  std::vector<uint32_t>& rest_loads, ModelsOf&& models_of) {
  rest.clear();
  rest_loads.clear();
  thread_local std::vector<size_t> counts;
  thread_local std::vector<bool> holds;
  counts.clear();
  holds.clear();
  bool any = false;
  size_t fewest = SIZE_MAX;
  for (auto c : candidates) {
    auto ids = models_of(c);
    auto n = ids ? ids->size() : 0;
    auto h = ids && std::find(ids->begin(), ids->end(), model) != ids->end();
    counts.push_back(n);
    holds.push_back(h);
    any = any || h;
    fewest = std::min(fewest, n);
  }
  size_t kept = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    auto preferred = any ? holds[i] : counts[i] == fewest;
    if (preferred) {
      candidates[kept] = candidates[i];
      loads[kept] = loads[i];
      ++kept;
    } else {
      rest.push_back(candidates[i]);
      rest_loads.push_back(loads[i]);
    }
  }
  candidates.resize(kept);
  loads.resize(kept);
}

/// Takes one slot of `budget` if fewer than `limit` are taken (or `force`,
/// or `limit` < 0). Returns whether it did.
bool take_queue_slot(queue_budget& budget, int64_t limit, bool force) noexcept;

} // namespace detail

} // namespace actorserve
