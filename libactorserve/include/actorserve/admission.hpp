/// @file
/// A replica's admission gate: how many calls it runs, shared with the
/// callers in its process so that they admit calls themselves and send them
/// straight to the replica's user actor.
///
/// A replica admits at most `max_ongoing_requests` calls at once. Callers in
/// the same process take a slot with one compare-and-swap on the replica's
/// own counter before they send, and give it back when the answer arrives;
/// a caller that finds the gate full or closed treats that as Ray Serve's
/// rejection and tries another replica. The call then needs no hop through
/// the replica's system-side actor: it goes from the caller to the user
/// actor and the answer comes straight back.
///
/// The counter belongs to one replica, so it is shared only by the calls of
/// that replica, like the replica's own queue-length count in Ray Serve;
/// nothing here is touched by every request of a deployment.
///
/// The replica owns the gate's state: it opens the gate when its user code
/// is constructed and closes it when it drains. A closed gate that runs
/// empty tells the replica (`(gate_empty_atom)`), which then stops.
///
/// Thread safety: every member is safe to call from any thread. `user()` is
/// set once, before the gate first opens, and is immutable afterwards.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/weak_intrusive_ptr.hpp>

namespace actorserve::detail {

/// Sent to the replica by the caller whose answer emptied a closed gate.
using gate_empty_atom = caf::atom_constant<caf::atom("as_empty")>;

class admission_gate {
public:
  explicit admission_gate(uint32_t max_ongoing) noexcept
      : max_ongoing_(max_ongoing) {}

  admission_gate(const admission_gate&) = delete;
  admission_gate& operator=(const admission_gate&) = delete;

  // -- the replica ------------------------------------------------------------

  /// Names the replica's actors: the user actor that callers send to, and
  /// the replica that hears when a closed gate runs empty.
  void bind(caf::actor user, const caf::actor& replica);

  /// Lets callers in (the user code is constructed).
  void open() noexcept {
    word_.fetch_and(~closed_bit, std::memory_order_acq_rel);
  }

  /// Turns callers away (draining or stopped). Returns the calls still
  /// running; when that is 0 no `gate_empty_atom` follows.
  uint32_t close() noexcept {
    return word_.fetch_or(closed_bit, std::memory_order_acq_rel) & count_mask;
  }

  // -- callers ----------------------------------------------------------------

  /// Takes a slot if the gate is open and has room. Either way, `running`
  /// is the count of calls running before this one.
  bool try_enter(uint32_t& running) noexcept {
    auto cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      running = cur & count_mask;
      if ((cur & closed_bit) != 0)
        return false;
      if (running >= max_ongoing_.load(std::memory_order_relaxed)) {
        turned_away();
        return false;
      }
      if (word_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
        return true;
    }
  }

  /// Takes a slot whatever the count (a stream, which runs on after the
  /// call that made it was answered); given back with `leave`.
  void enter() noexcept { word_.fetch_add(1, std::memory_order_acq_rel); }

  /// Gives a slot back (the call's answer arrived, or it will never come).
  void leave() noexcept;

  // -- both -------------------------------------------------------------------

  uint32_t running() const noexcept {
    return word_.load(std::memory_order_relaxed) & count_mask;
  }

  bool is_open() const noexcept {
    return (word_.load(std::memory_order_relaxed) & closed_bit) == 0;
  }

  /// A caller found every slot held (and went to another replica, or
  /// waited). Mostly a load: the flag is set once between two probes.
  void turned_away() noexcept {
    if (!turned_away_.load(std::memory_order_relaxed))
      turned_away_.store(true, std::memory_order_relaxed);
  }

  /// Whether a caller was turned away since the last call (the replica's
  /// health probes: work wanted in while every slot was held).
  bool take_turned_away() noexcept {
    return turned_away_.exchange(false, std::memory_order_relaxed);
  }

  uint32_t max_ongoing() const noexcept {
    return max_ongoing_.load(std::memory_order_relaxed);
  }

  /// Changes the limit in place (a reconfigure of `max_ongoing_requests`):
  /// calls running above a lowered limit finish; new ones wait for room.
  void set_max_ongoing(uint32_t n) noexcept {
    max_ongoing_.store(n, std::memory_order_relaxed);
  }

  /// The replica's user actor (null until bound).
  const caf::actor& user() const noexcept { return user_; }

  // -- multiplexed models -----------------------------------------------------

  /// The model ids the replica holds or is loading now (its model cache
  /// publishes them as loads start and end and on every eviction); callers
  /// prefer holders of a request's model.
  void set_models(std::vector<std::string> ids) {
    std::atomic_store(
        &models_,
        std::make_shared<const std::vector<std::string>>(std::move(ids)));
  }

  /// The model ids the replica holds (never null).
  std::shared_ptr<const std::vector<std::string>> models() const {
    return std::atomic_load(&models_);
  }

  /// A copy of `models()`, for status.
  std::vector<std::string> model_ids() const { return *models(); }

private:
  static constexpr uint32_t closed_bit = 1u << 31;
  static constexpr uint32_t count_mask = closed_bit - 1;

  /// Calls running, plus `closed_bit`. Starts closed: a starting replica
  /// takes no calls.
  std::atomic<uint32_t> word_{closed_bit};
  std::atomic<uint32_t> max_ongoing_;
  std::atomic<bool> turned_away_{false};
  caf::actor user_;
  caf::weak_actor_ptr replica_;
  std::shared_ptr<const std::vector<std::string>> models_ =
      std::make_shared<const std::vector<std::string>>();
};

using gate_ptr = std::shared_ptr<admission_gate>;

} // namespace actorserve::detail
