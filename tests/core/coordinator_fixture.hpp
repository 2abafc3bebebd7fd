/// @file
/// A deterministic world for control-logic tests: CAF's test coordinator
/// (no threads, virtual time) plus a deployment whose calls wait until the
/// test releases them, so admission, routing and queueing can be observed
/// message by message.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include <catch2/catch.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/expected.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/typed_actor.hpp>

#include "actorserve/controller.hpp"
#include "actorserve/deployment.hpp"
#include "actorserve/messages.hpp"
#include "replica/user_plane.hpp"

namespace test {

using release_atom = caf::atom_constant<caf::atom("release")>;

/// The test deployment's interface: echo an int, once released.
using held_actor = caf::typed_actor<caf::replies_to<int32_t>::with<int32_t>,
                                    caf::reacts_to<release_atom, int32_t>>;

/// Calls the held deployment has received and not yet answered.
struct hold_box {
  struct call {
    uint64_t replica;
    int32_t x;
    caf::typed_response_promise<int32_t> rp;
    caf::actor owner;
    /// Whether the call ran on its replica's own unit (isolated replicas).
    bool own_unit;
  };
  std::vector<call> held;
  /// Calls running per replica now, and the most ever seen at once.
  std::map<uint64_t, int> running;
  std::map<uint64_t, int> peak;

  size_t held_by(uint64_t replica) const {
    size_t n = 0;
    for (auto& c : held)
      n += c.replica == replica ? 1 : 0;
    return n;
  }

  /// Asks the owner of the oldest held call to answer it (x echoes back);
  /// the owning actor delivers its own promise once the world runs.
  void release_one() {
    auto c = held.front();
    held.erase(held.begin());
    --running[c.replica];
    caf::anon_send(c.owner, release_atom::value, c.x);
    released.push_back(std::move(c));
  }

  /// Calls released but not yet answered by their owner.
  std::vector<call> released;
};

using box_ptr = std::shared_ptr<hold_box>;

inline held_actor::behavior_type held(held_actor::pointer self, box_ptr box) {
  return {
      [=](int32_t x) -> caf::result<int32_t> {
        auto id = actorserve::replica_context_of(self).replica_id;
        auto rp = self->make_response_promise<int32_t>();
        auto own_unit = actorserve::detail::user_plane_of(self).on_own_unit();
        box->held.push_back(hold_box::call{
            id, x, rp, caf::actor_cast<caf::actor>(self), own_unit});
        auto now = ++box->running[id];
        if (now > box->peak[id])
          box->peak[id] = now;
        return rp;
      },
      [=](release_atom, int32_t x) {
        auto me = caf::actor_cast<caf::actor>(self);
        auto& rel = box->released;
        for (auto i = rel.begin(); i != rel.end(); ++i)
          if (i->owner == me && i->x == x) {
            auto rp = i->rp;
            rel.erase(i);
            rp.deliver(x);
            return;
          }
      },
  };
}

/// A deployment spec for the held deployment. Both modes run under the test
/// coordinator: an isolated replica's user unit is virtual there (a job of
/// the coordinator, user_plane.cpp), so its hand-overs are steps too.
inline actorserve::detail::spec_ptr
held_spec(box_ptr box, uint32_t max_ongoing = 5,
          actorserve::execution mode = actorserve::execution::inline_) {
  auto builder = actorserve::deployment("Held", held);
  builder.max_ongoing_requests(max_ongoing).mode(mode);
  return builder.bind(box).spec();
}

struct coordinator_config : caf::actor_system_config {
  coordinator_config() {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.inline-output", true);
    set("logger.console-verbosity", caf::atom("quiet"));
    actorserve::register_types(*this);
  }
};

/// Results of calls made by `fixture::call`.
struct call_log {
  std::vector<caf::expected<int32_t>> results;

  size_t ok() const {
    size_t n = 0;
    for (auto& r : results)
      n += r ? 1 : 0;
    return n;
  }
};

struct fixture {
  coordinator_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched =
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  std::shared_ptr<call_log> log = std::make_shared<call_log>();

  // The actor system waits for every actor when it goes (CAF's default,
  // kept on purpose): an actor a test leaves behind, or one that never
  // ends, hangs the test instead of hiding a leak.
  fixture() { sys.await_actors_before_shutdown(true); }

  /// Stops what the test started, so nothing outlives the actor system: the
  /// boxes' held promises (which keep their actors alive) and every actor
  /// registered with `own`.
  ~fixture() {
    for (auto& box : boxes) {
      box->held.clear();
      box->released.clear();
    }
    for (auto& a : owned)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    run();
    // Pending timers (a router's retry) hold their actors; fire them.
    while (sched.trigger_timeouts() > 0)
      run();
  }

  std::vector<box_ptr> boxes;
  std::vector<caf::actor> owned;

  box_ptr make_box() {
    boxes.push_back(std::make_shared<hold_box>());
    return boxes.back();
  }

  template <class Handle>
  Handle own(Handle x) {
    owned.push_back(caf::actor_cast<caf::actor>(x));
    return x;
  }

  /// Runs the world, then fires due timers (virtual time) and runs again,
  /// until nothing is left to do.
  void run_with_timers() {
    run();
    // Bounded: a router whose replicas stay full keeps re-arming its timer.
    for (int i = 0; i < 50 && sched.trigger_timeouts() > 0; ++i)
      run();
  }

  /// Runs every pending message.
  void run() { sched.run(); }

  /// Sends `(call_atom, meta, x)` to `dest` from a fresh client actor; the
  /// answer lands in `log` once the world runs.
  void call(const caf::actor& dest, int32_t x) {
    auto lg = log;
    // x is a spawn argument: CAF 0.17 spawns functors without arguments
    // through a null pointer (undefined behavior under UBSan).
    sys.spawn(
        [=](caf::event_based_actor* self, int32_t arg) {
          self->request(dest, caf::infinite, actorserve::call_atom::value,
                        actorserve::request_meta{}, caf::make_message(arg))
              .then([lg](int32_t y) { lg->results.emplace_back(y); },
                    [lg](caf::error& err) { lg->results.emplace_back(err); });
        },
        x);
  }
};

/// A controller's answer, once the world ran.
struct ask {
  std::shared_ptr<caf::expected<caf::message>> out =
      std::make_shared<caf::expected<caf::message>>(caf::message{});
  std::shared_ptr<bool> done = std::make_shared<bool>(false);
};

/// Asks the controller from a client actor and runs the world; the answer
/// (a `T`, or an error) lands in the returned `ask`.
template <class T, class... Ts>
ask request(fixture& f, const actorserve::controller_actor& ctrl, Ts... xs) {
  ask a;
  auto out = a.out;
  auto done = a.done;
  f.sys.spawn(
      [=](caf::event_based_actor* self, caf::actor dest) {
        self->request(dest, caf::infinite, xs...)
            .then(
                [=](T& x) {
                  *out = caf::make_message(std::move(x));
                  *done = true;
                },
                [=](caf::error& err) {
                  *out = std::move(err);
                  *done = true;
                });
      },
      caf::actor_cast<caf::actor>(ctrl));
  f.run();
  return a;
}

inline size_t ready_replicas(const actorserve::deployment_status& st) {
  size_t n = 0;
  for (auto& r : st.replicas)
    n += r.state == actorserve::replica_state::ready ? 1 : 0;
  return n;
}

inline actorserve::deployment_status
find_dep(fixture& f, const actorserve::controller_actor& ctrl,
         const std::string& app, const std::string& dep) {
  auto a = request<actorserve::serve_status>(f, ctrl,
                                             actorserve::status_atom::value);
  REQUIRE(*a.done);
  auto st = a.out->value().get_as<actorserve::serve_status>(0);
  for (auto& x : st.applications)
    if (x.name == app)
      for (auto& d : x.deployments)
        if (d.name == dep)
          return d;
  FAIL("deployment not found");
  return {};
}

} // namespace test
