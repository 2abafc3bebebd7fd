// The controller's autoscaling: a tick per autoscaled deployment that
// samples its load and applies the policy of autoscaling.hpp.
#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>

#include "control/controller_handlers.hpp"
#include "control/controller_steps.hpp"

namespace actorserve::detail::ctl {

void arm_autoscale(controller_ptr self, const std::string& app,
                   const std::string& dep_name, deployment_entry& dep) {
  if (!dep.spec->config.autoscaling || dep.autoscale_armed)
    return;
  dep.autoscale_armed = true;
  dep.autoscale_chain = self->state.next_chain++;
  next_autoscale(self, app, dep_name, dep);
}

void next_autoscale(controller_ptr self, const std::string& app,
                    const std::string& dep_name, const deployment_entry& dep) {
  self->delayed_send(self, autoscaling_tick, autoscale_tick_atom::value, app,
                     dep_name, dep.autoscale_chain);
}

void autoscale_step(controller_ptr self, app_entry& app,
                    const std::string& dep_name, deployment_entry& dep) {
  auto& cfg = *dep.spec->config.autoscaling;
  // Requests waiting at every caller, plus those running at the replicas:
  // read from their gates in this process (no message), and as the worker
  // nodes last reported (their heartbeat answers) for the others.
  auto key = dep.ep->app() + "/" + dep.ep->deployment();
  auto queued = static_cast<double>(std::max<int64_t>(dep.ep->queued(), 0) +
                                    queued_on_nodes(self, key));
  auto total = queued;
  uint32_t running = 0;
  for (auto& r : dep.replicas) {
    total += running_at(r);
    if (r.state == replica_state::ready)
      ++running;
  }
  auto now = self->clock().now();
  record_sample(dep.window, load_sample{now, total}, cfg.look_back_period);
  auto load = aggregate_window(dep.window, now, cfg.look_back_period,
                               cfg.aggregation_function);
  // A request waiting on no replica at all is a cold start, whatever the
  // window says.
  if (dep.target == 0 && queued > 0)
    load = std::max(load, queued);
  auto next = autoscale(cfg, dep.scaler, load, dep.target, running, now);
  if (next == dep.target)
    return;
  dep.target = next;
  dep.autoscaled_target = true;
  reconcile(self, app, dep_name, dep);
}

// -- handlers -----------------------------------------------------------------

void on_autoscale_tick(controller_ptr self, const std::string& app_name,
                       const std::string& dep_name, uint64_t chain) {
  app_entry* app = nullptr;
  auto dep = live_deployment(self, app_name, dep_name, &app);
  if (dep == nullptr || dep->autoscale_chain != chain)
    return; // gone, or a chain since replaced
  if (!dep->spec->config.autoscaling) {
    dep->autoscale_armed = false; // the chain ends
    return;
  }
  autoscale_step(self, *app, dep_name, *dep);
  next_autoscale(self, app_name, dep_name, *dep);
}

} // namespace actorserve::detail::ctl
