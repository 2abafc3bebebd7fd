/// Helpers of the controller's fuzz tests on CAF's test coordinator: a
/// deployment whose replicas die and whose constructors fail on demand,
/// requests counted until each has its answer, and running the world until
/// only the hour-long health ticks are left.
#pragma once

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include <caf/detail/test_actor_clock.hpp>

#include "actorserve/controller.hpp"
#include "actorserve/error.hpp"
#include "coordinator_fixture.hpp"

namespace test::fuzz {

using namespace actorserve;

using mortal_actor = caf::typed_actor<caf::replies_to<int32_t>::with<int32_t>>;

/// How the mortal deployment's constructor behaves.
struct ctor_box {
  int constructions = 0;
  /// Every n-th construction throws (0: never, 1: always).
  int fail_every = 0;
  /// The first n constructions throw (a constructor that is fixed later).
  int fail_first = 0;
  /// User actors alive now.
  int live = 0;
};

inline mortal_actor::behavior_type mortal(mortal_actor::pointer self,
                                   std::shared_ptr<ctor_box> box) {
  ++box->constructions;
  if (box->constructions <= box->fail_first)
    throw std::runtime_error("constructor failed on purpose");
  if (box->fail_every > 0 && box->constructions % box->fail_every == 0)
    throw std::runtime_error("constructor failed on purpose");
  ++box->live;
  self->attach_functor([box] { --box->live; });
  return {[=](int32_t x) -> int32_t {
    if (x < 0)
      self->quit(); // the replica's user code dies
    return x;
  }};
}

inline detail::spec_ptr mortal_spec(std::shared_ptr<ctor_box> box, uint32_t n,
                                    execution mode = execution::inline_,
                                    const std::string& name = "M") {
  auto b = deployment(name, mortal);
  // Health ticks an hour apart: `settle` stops short of them.
  b.num_replicas(n).mode(mode).health_check(std::chrono::hours(1),
                                            std::chrono::seconds(30));
  return b.bind(std::move(box)).spec();
}

/// Requests sent and answers received.
struct tally {
  int sent = 0;
  int answered = 0;
  /// The requests still unanswered, by number, as text.
  std::map<int, std::string> open;

  /// Names what is still unanswered (for a failing check).
  std::string pending() const {
    std::string out;
    for (auto& [n, what] : open)
      out += "#" + std::to_string(n) + " " + what + "\n";
    return out;
  }
};

/// Sends `xs...` to the controller from a fresh client; counts the answer
/// (a `T` or an error) when it comes. Does not run the world.
template <class T, class... Ts>
void fire(test::fixture& f, const controller_actor& ctrl,
          std::shared_ptr<tally> t, Ts... xs) {
  auto n = ++t->sent;
  t->open[n] = caf::deep_to_string(caf::make_message(xs...));
  f.sys.spawn(
      [=](caf::event_based_actor* self, caf::actor dest) {
        self->request(dest, caf::infinite, xs...)
            .then(
                [t, n](T&) {
                  ++t->answered;
                  t->open.erase(n);
                },
                [t, n](caf::error&) {
                  ++t->answered;
                  t->open.erase(n);
                });
      },
      caf::actor_cast<caf::actor>(ctrl));
}

inline void deploy(test::fixture& f, const controller_actor& ctrl,
            std::shared_ptr<tally> t, app_spec spec) {
  fire<application_status>(f, ctrl, std::move(t), deploy_atom::value,
                           std::move(spec));
}

/// The gateway of app `name`'s deployment, if the controller knows one.
inline caf::actor gateway_of(test::fixture& f, const controller_actor& ctrl,
                      const std::string& name) {
  caf::actor result;
  auto out = std::make_shared<caf::actor>();
  f.sys.spawn(
      [=](caf::event_based_actor* self, caf::actor dest) {
        self->request(dest, caf::infinite, status_atom::value)
            .then([=](serve_status& st) {
              for (auto& app : st.applications)
                if (app.name == name && !app.deployments.empty())
                  *out = app.deployments.front().gateway;
            });
      },
      caf::actor_cast<caf::actor>(ctrl));
  f.run();
  return *out;
}

inline serve_status status(test::fixture& f, const controller_actor& ctrl) {
  auto out = std::make_shared<serve_status>();
  auto done = std::make_shared<bool>(false);
  f.sys.spawn(
      [=](caf::event_based_actor* self, caf::actor dest) {
        self->request(dest, caf::infinite, status_atom::value)
            .then([=](serve_status& st) {
              *out = std::move(st);
              *done = true;
            });
      },
      caf::actor_cast<caf::actor>(ctrl));
  f.run();
  REQUIRE(*done); // the controller is alive and answers
  return *out;
}

/// Runs messages and fires timers until nothing is left but the periodic
/// health ticks (an hour apart here, see mortal_spec): every timer due
/// within half an hour of virtual time fires. Bounded: a loop (a replica
/// respawned forever, a retry that never ends) keeps timers due and fails.
inline void settle(test::fixture& f) {
  auto& clock = dynamic_cast<caf::detail::test_actor_clock&>(f.sys.clock());
  auto horizon = clock.now() + std::chrono::minutes(30);
  for (int i = 0; i < 1000; ++i) {
    f.run();
    auto& pending = clock.schedule();
    if (pending.empty() || pending.begin()->first > horizon)
      return;
    f.sched.trigger_timeout();
  }
  FAIL("the world never settled: something loops");
}


/// After a random run: settles the world, checks that every request has its
/// answer and no app is stuck deploying, and returns the status.
inline serve_status check_settled(test::fixture& f,
                                  const controller_actor& ctrl,
                                  const std::shared_ptr<tally>& t) {
  settle(f);
  INFO(t->pending());
  CHECK(t->answered == t->sent);
  auto st = status(f, ctrl);
  for (auto& app : st.applications)
    CHECK(app.state != application_state::deploying);
  return st;
}

} // namespace test::fuzz
