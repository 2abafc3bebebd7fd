/// Helpers of the control-plane tests on CAF's test coordinator: virtual
/// time in control-loop steps, deploying an application, patching a
/// deployment, and the replica ids of a status.
#pragma once

#include <chrono>
#include <set>
#include <string>

#include <caf/detail/test_actor_clock.hpp>

#include "actorserve/controller.hpp"
#include "coordinator_fixture.hpp"

namespace test::control {

using namespace actorserve;

using namespace std::chrono_literals;

/// Moves virtual time forward in control-loop steps, running the world
/// after each.
inline void pass_time(fixture& f, std::chrono::milliseconds d) {
  auto& clock = dynamic_cast<caf::detail::test_actor_clock&>(f.sys.clock());
  for (auto t = 0ms; t < d; t += autoscaling_tick) {
    clock.advance_time(autoscaling_tick);
    f.run();
  }
}

inline application_status deploy(fixture& f, const controller_actor& ctrl,
                                 detail::spec_ptr spec) {
  auto a = request<application_status>(f, ctrl, deploy_atom::value,
                                       app_spec{"app", "", std::move(spec)});
  REQUIRE(*a.done);
  REQUIRE(a.out->engaged());
  return a.out->value().get_as<application_status>(0);
}

inline ask patch(fixture& f, const controller_actor& ctrl,
                 const std::string& dep, deployment_patch p, bool wait) {
  return request<deployment_status>(f, ctrl, update_atom::value,
                                    std::string{"app"}, dep, p, wait);
}

inline std::set<uint64_t> ids_of(const deployment_status& st) {
  std::set<uint64_t> out;
  for (auto& r : st.replicas)
    out.insert(r.id);
  return out;
}

} // namespace test::control
