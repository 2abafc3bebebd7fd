// The controller's message table: one entry per message of its protocol
// (actorserve/controller.hpp), each calling the named handler of its
// concern (controller_handlers.hpp) or the one step it takes
// (controller_steps.hpp).
#include "actorserve/controller.hpp"

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "control/controller_handlers.hpp"
#include "control/controller_steps.hpp"

namespace actorserve {

using namespace detail::ctl;

namespace {

/// Sets the controller's state and its exit and down handlers.
void init(controller_ptr self, std::string node, resource_set local,
          heartbeat_options heartbeat) {
  self->state.node = std::move(node);
  self->state.local = with_memory(std::move(local));
  self->state.heartbeat = heartbeat;
  // The replicas of this process end with the controller, however it ends
  // (controller_data::local_replicas).
  self->attach_functor([live = self->state.local_replicas] {
    for (auto& kvp : *live)
      caf::anon_send_exit(kvp.second, caf::exit_reason::user_shutdown);
    live->clear();
  });
  // Gateways are linked so that they end with the controller (replicas
  // through `local_replicas`, above); replicas' deaths are handled by the
  // down handler. An exit sent to the controller itself (`anon_send_exit`
  // names the receiver as the source) ends it.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (msg.source == self->address())
      self->quit(std::move(msg.reason));
  });
  self->set_down_handler([self](caf::down_msg& dm) {
    on_down(self, dm);
    mark_changed(self);
  });
}

/// Marks the stored state changed; passes `result` on.
template <class T>
T changed(controller_ptr self, T result) {
  mark_changed(self);
  return result;
}

controller_actor::behavior_type behavior(controller_ptr self) {
  using std::string;
  return {
      // Applications.
      // A message that may change what is stored marks it (`changed`): a
      // write follows the turn.
      [self](deploy_atom, app_spec& spec) {
        return changed(self, on_deploy(self, spec));
      },
      [self](delete_atom, string& app) {
        return changed(self, on_delete(self, app));
      },
      [self](scale_atom, string& app, string& dep, uint32_t n) {
        return changed(self, on_scale(self, app, dep, n));
      },
      [self](update_atom, const string& app, const string& dep,
             deployment_patch& patch, bool wait) {
        return changed(self, on_update(self, app, dep, patch, wait));
      },
      [self](shutdown_atom) { return on_shutdown(self); },
      // Queries and subscriptions. An answer to health_atom proves the
      // system plane schedules the controller.
      [](health_atom) { return true; },
      [self](status_atom) { return on_status(self); },
      [self](endpoint_atom, const string& app, const string& dep) {
        return on_endpoint(self, app, dep);
      },
      [self](routes_atom, caf::actor& sub) { on_routes(self, sub); },
      // Nodes.
      [self](node_join_atom, node_hello& hello, const string& peer) {
        return changed(self, node_joined(self, std::move(hello), peer));
      },
      [self](node_deployments_atom, uint64_t node, std::vector<string>& names) {
        return on_node_deployments(self, node, names);
      },
      [self](cluster_address_atom, string& address) {
        on_cluster_address(self, address);
      },
      [self](heartbeat_atom) { heartbeat(self); },
      [self](wait_nodes_atom, uint32_t n) { return on_wait_nodes(self, n); },
      // Replicas, and the controller's own timers and coalesced work.
      [self](ready_atom, uint64_t id, bool ok, string& message) {
        on_ready(self, id, ok, message);
        mark_changed(self);
      },
      [self](startup_timeout_atom, uint64_t id) {
        startup_timed_out(self, id);
        mark_changed(self);
      },
      [self](respawn_atom, const string& app, const string& dep) {
        on_respawn(self, app, dep);
        mark_changed(self);
      },
      [self](push_atom, const string& app, const string& dep) {
        on_push(self, app, dep);
      },
      [self](place_atom) {
        place_pending(self);
        mark_changed(self);
      },
      [self](health_tick_atom, const string& app, const string& dep,
             uint64_t chain) { on_health_tick(self, app, dep, chain); },
      [self](autoscale_tick_atom, const string& app, const string& dep,
             uint64_t chain) {
        on_autoscale_tick(self, app, dep, chain);
        mark_changed(self);
      },
      // The state store.
      [self](persist_atom) { return on_persist(self); },
      [self](recovered_atom) { on_recovered(self); },
  };
}

} // namespace

controller_actor spawn_controller(caf::actor_system& sys, resource_set local,
                                  heartbeat_options heartbeat,
                                  std::shared_ptr<detail::store_setup> setup) {
  std::string node = "local";
  return sys.spawn(
      [](controller_ptr self, std::string node, resource_set local,
         heartbeat_options heartbeat,
         std::shared_ptr<detail::store_setup> setup)
          -> controller_actor::behavior_type {
        init(self, std::move(node), std::move(local), heartbeat);
        if (setup)
          init_store(self, std::move(setup));
        return behavior(self);
      },
      std::move(node), std::move(local), heartbeat, std::move(setup));
}

controller_actor spawn_controller(caf::actor_system& sys, resource_set local,
                                  heartbeat_options heartbeat) {
  // `node` names this process in status output (and, later, among nodes). It
  // is also a spawn argument: CAF 0.17 spawns functors without arguments
  // through a null pointer (undefined behavior under UBSan).
  std::string node = "local";
  return sys.spawn(
      [](controller_ptr self, std::string node, resource_set local,
         heartbeat_options heartbeat) -> controller_actor::behavior_type {
        init(self, std::move(node), std::move(local), heartbeat);
        return behavior(self);
      },
      std::move(node), std::move(local), heartbeat);
}

} // namespace actorserve
