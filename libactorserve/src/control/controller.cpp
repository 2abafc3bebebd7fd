#include "actorserve/controller.hpp"

#include <algorithm>
#include <map>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>

#include "actorserve/error.hpp"
#include "calls/gateway.hpp"
#include "control/controller_state.hpp"

namespace actorserve {

using namespace detail::ctl;

controller_actor spawn_controller(caf::actor_system& sys, resource_set local,
                                  heartbeat_options heartbeat) {
  // `node` names this process in status output (and, later, among nodes). It
  // is also a spawn argument: CAF 0.17 spawns functors without arguments
  // through a null pointer (undefined behavior under UBSan).
  std::string node = "local";
  return sys.spawn(
      [](controller_ptr self, std::string node, resource_set local,
         heartbeat_options heartbeat) -> controller_actor::behavior_type {
        self->state.node = std::move(node);
        self->state.local = with_memory(std::move(local));
        self->state.heartbeat = heartbeat;
        // The replicas of this process end with the controller, however it
        // ends (controller_data::local_replicas).
        self->attach_functor([live = self->state.local_replicas] {
          for (auto& kvp : *live)
            caf::anon_send_exit(kvp.second, caf::exit_reason::user_shutdown);
          live->clear();
        });
        // Gateways are linked so that they end with the controller (replicas
        // through `local_replicas`, above); replicas' deaths are handled by
        // the down handler. An exit sent to the controller itself
        // (`anon_send_exit` names the receiver as the source) ends it.
        self->set_exit_handler([self](caf::exit_msg& msg) {
          if (msg.source == self->address())
            self->quit(std::move(msg.reason));
        });
        self->set_down_handler([self](caf::down_msg& dm) {
          if (node_went_down(self, dm))
            return;
          // A replica died outside of a drain: replace it, at once, or
          // after a backoff when its constructor failed or replicas keep
          // dying (one pass over the replicas: O(n) per death).
          for (auto& [app_name, app] : self->state.apps)
            for (auto& [dep_name, dep] : app.deployments) {
              auto r = std::find_if(dep.replicas.begin(), dep.replicas.end(),
                                    [&](const replica_entry& e) {
                                      return e.handle.address() == dm.source;
                                    });
              if (r == dep.replicas.end())
                continue;
              replica_died(self, app, dep_name, dep, r);
              return;
            }
        });
        return {
            [self](deploy_atom,
                   app_spec& spec) -> caf::result<application_status> {
              auto& st = self->state;
              if (st.shutting_down)
                return make_error(errc::unavailable,
                                  "the controller is shutting down");
              std::vector<detail::spec_ptr> specs;
              if (auto err = validate_app(st, spec, specs))
                return err;
              if (auto i = st.apps.find(spec.name); i != st.apps.end()) {
                auto& app = i->second;
                if (auto err = redeploy(self, app, spec, specs))
                  return err;
                auto rp = self->make_response_promise<application_status>();
                app.deploy_waiters.push_back(rp);
                check_running(self, app);
                return rp;
              }
              auto& app = st.apps[spec.name];
              app.name = spec.name;
              app.prefix = spec.route_prefix;
              app.ingress = spec.ingress->config.name;
              app.state = application_state::deploying;
              std::map<const detail::deployment_spec*, endpoint_ptr> eps;
              for (auto& s : specs) {
                app.order.push_back(s->config.name);
                auto& dep = add_deployment(self, app, s);
                eps[s.get()] = dep.ep;
                for (auto& child : s->children)
                  dep.children.push_back(eps.at(child.get()));
              }
              auto rp = self->make_response_promise<application_status>();
              app.deploy_waiters.push_back(rp);
              for (auto& name : app.order) {
                auto& dep = app.deployments.at(name);
                reconcile(self, app, name, dep);
                arm_health(self, app.name, name, dep);
                arm_autoscale(self, app.name, name, dep);
              }
              return rp;
            },
            [self](delete_atom, std::string& name) -> caf::result<bool> {
              auto i = self->state.apps.find(name);
              if (i == self->state.apps.end())
                return false;
              auto rp = self->make_response_promise<bool>();
              i->second.delete_waiters.push_back(rp);
              if (i->second.state != application_state::deleting)
                start_delete(self, i->second);
              return rp;
            },
            [self](scale_atom, std::string& app_name, std::string& dep_name,
                   uint32_t n) -> caf::result<deployment_status> {
              auto a = self->state.apps.find(app_name);
              if (a == self->state.apps.end() ||
                  a->second.deployments.count(dep_name) == 0)
                return make_error(errc::not_found,
                                  "no deployment '" + dep_name +
                                      "' in application '" + app_name + "'");
              if (n == 0)
                return make_error(errc::invalid_config,
                                  "deployment '" + dep_name +
                                      "': num_replicas must be >= 1 (got 0)");
              if (!replaces_replicas(a->second))
                return make_error(errc::unavailable,
                                  "application '" + app_name + "' is " +
                                      to_string(a->second.state));
              auto& dep = a->second.deployments.at(dep_name);
              if (dep.spec->config.autoscaling)
                return make_error(errc::invalid_config,
                                  "deployment '" + dep_name +
                                      "': num_replicas cannot be set while "
                                      "autoscaling_config is");
              dep.target = n;
              dep.autoscaled_target = false;
              // An explicit scale tries a failing constructor again.
              retry_constructor(dep);
              auto rp = self->make_response_promise<deployment_status>();
              dep.scale_waiters.push_back(scale_waiter{rp});
              reconcile(self, a->second, dep_name, dep);
              check_running(self, a->second);
              return rp;
            },
            [](health_atom) { return true; },
            [self](status_atom) {
              serve_status result;
              for (auto& [name, app] : self->state.apps)
                result.applications.push_back(status_of(app));
              result.nodes = nodes_status(self);
              return result;
            },
            [self](node_join_atom, node_hello& hello, const std::string& peer) {
              return node_joined(self, std::move(hello), peer);
            },
            [self](node_deployments_atom, uint64_t node,
                   std::vector<std::string>& names) -> caf::result<bool> {
              if (auto err = set_node_deployments(self, node, std::move(names)))
                return err;
              return true;
            },
            [self](cluster_address_atom, std::string& address) {
              self->state.address = std::move(address);
            },
            [self](heartbeat_atom) { detail::ctl::heartbeat(self); },
            [self](wait_nodes_atom, uint32_t n) {
              auto rp = self->make_response_promise<bool>();
              self->state.node_waiters.emplace_back(n, rp);
              // Answered at once when enough nodes are there already.
              answer_node_waiters(self);
              return rp;
            },
            [self](endpoint_atom, const std::string& app,
                   const std::string& dep) -> caf::result<endpoint_ptr> {
              auto a = self->state.apps.find(app);
              if (a == self->state.apps.end() ||
                  a->second.deployments.count(dep) == 0)
                return make_error(errc::not_found, "no deployment '" + dep +
                                                       "' in application '" +
                                                       app + "'");
              return a->second.deployments.at(dep).ep;
            },
            [self](routes_atom, caf::actor& subscriber) {
              self->state.route_subscribers.push_back(subscriber);
              caf::anon_send(subscriber, routes_atom::value,
                             make_routes(self->state));
            },
            [self](shutdown_atom) -> caf::result<bool> {
              auto& st = self->state;
              st.shutting_down = true;
              if (st.apps.empty())
                return true;
              auto rp = self->make_response_promise<bool>();
              st.shutdown_waiters.push_back(rp);
              // By name: a delete with nothing to drain erases its app.
              std::vector<std::string> names;
              for (auto& [name, app] : st.apps)
                if (app.state != application_state::deleting)
                  names.push_back(name);
              for (auto& name : names)
                if (auto i = st.apps.find(name); i != st.apps.end())
                  start_delete(self, i->second);
              return rp;
            },
            [self](ready_atom, uint64_t id, bool ok, std::string& message) {
              auto at = locate_replica(self, id);
              if (!at) {
                // Drained, deleted or given up on while it started (a
                // start on a worker node that timed out was replaced): a
                // replica nobody lists must not live on.
                if (ok)
                  if (auto sender = self->current_sender())
                    self->send_exit(caf::actor_cast<caf::actor>(sender),
                                    caf::exit_reason::user_shutdown);
                return;
              }
              auto& app = *at->app;
              auto& dep_name = at->dep_name;
              auto& dep = *at->dep;
              auto r = at->r;
              if (!ok) {
                // The replica exits; the down handler replaces it after
                // the backoff, unless this was the last try.
                r->state = replica_state::failed;
                constructor_failed(self, app, dep_name, dep, message);
                return;
              }
              if (!r->handle) {
                // Started on a worker node whose answer is still on its
                // way: the report's sender is the replica.
                r->handle = caf::actor_cast<caf::actor>(self->current_sender());
                self->monitor(r->handle);
              }
              r->state = replica_state::ready;
              r->slot_failures = 0;
              dep.ctor_failures = 0;
              // A replica that started before a config change catches up.
              if (r->user_config != dep.spec->config.user_config ||
                  r->max_ongoing != dep.spec->config.max_ongoing_requests)
                reconfigure_replica(self, app.name, dep_name, dep, *r);
              schedule_push(self, app.name, dep_name, dep);
            },
            [self](place_atom) { place_pending(self); },
            [self](startup_timeout_atom, uint64_t id) {
              startup_timed_out(self, id);
            },
            [self](push_atom, const std::string& app_name,
                   const std::string& dep_name) {
              app_entry* app = nullptr;
              auto dep = live_deployment(self, app_name, dep_name, &app);
              if (dep == nullptr || !dep->push_pending)
                return;
              dep->push_pending = false;
              push_replicas(self, *dep);
              // New replicas are ready: old ones of a rolling update may go.
              if (rolling(*dep))
                roll(self, *app, dep_name, *dep);
              answer_scale_waiters(*dep, dep_name);
              check_running(self, *app);
            },
            [self](update_atom, const std::string& app_name,
                   const std::string& dep_name, deployment_patch& patch,
                   bool wait) -> caf::result<deployment_status> {
              auto a = self->state.apps.find(app_name);
              if (a == self->state.apps.end() ||
                  a->second.deployments.count(dep_name) == 0 ||
                  std::find(a->second.order.begin(), a->second.order.end(),
                            dep_name) == a->second.order.end())
                return make_error(errc::not_found,
                                  "no deployment '" + dep_name +
                                      "' in application '" + app_name + "'");
              auto& app = a->second;
              if (!replaces_replicas(app))
                return make_error(errc::unavailable, "application '" +
                                                         app_name + "' is " +
                                                         to_string(app.state));
              auto& dep = app.deployments.at(dep_name);
              if (auto err = patch_deployment(self, app, dep_name, dep, patch))
                return err;
              check_running(self, app);
              auto st = status_of(dep_name, dep);
              if (!wait || st.state == deployment_state::healthy)
                return st;
              auto rp = self->make_response_promise<deployment_status>();
              dep.scale_waiters.push_back(scale_waiter{rp});
              return rp;
            },
            [self](autoscale_tick_atom, const std::string& app_name,
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
            },
            [self](health_tick_atom, const std::string& app_name,
                   const std::string& dep_name, uint64_t chain) {
              // Ticks end with their deployment (deleted, or the app is
              // being deleted).
              auto dep = live_deployment(self, app_name, dep_name);
              if (dep == nullptr || dep->health_chain != chain)
                return;
              probe_replicas(self, app_name, dep_name, *dep);
              arm_health(self, app_name, dep_name, *dep);
            },
            [self](respawn_atom, const std::string& app_name,
                   const std::string& dep_name) {
              auto a = self->state.apps.find(app_name);
              if (a == self->state.apps.end())
                return;
              auto d = a->second.deployments.find(dep_name);
              if (d == a->second.deployments.end())
                return;
              if (replaces_replicas(a->second) && !d->second.unhealthy) {
                reconcile(self, a->second, dep_name, d->second);
                check_running(self, a->second);
              }
            },
        };
      },
      std::move(node), std::move(local), heartbeat);
}

} // namespace actorserve
