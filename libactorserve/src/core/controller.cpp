#include "actorserve/controller.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/system_messages.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actorserve/error.hpp"
#include "actorserve/replica.hpp"
#include "actorserve/gateway.hpp"

namespace actorserve {

namespace {

struct replica_entry {
  uint64_t id;
  caf::actor handle;
  replica_state state;
  detail::gate_ptr gate;
};

struct scale_waiter {
  caf::typed_response_promise<deployment_status> rp;
};

struct deployment_entry {
  detail::spec_ptr spec;
  /// Desired replica count (the spec's, until scaled).
  uint32_t target = 0;
  /// Where callers find the ready replicas.
  endpoint_ptr ep;
  /// Routes for callers outside replicas and the ingress.
  caf::actor gateway;
  std::vector<endpoint_ptr> children;
  /// Live replicas (starting or ready); draining ones are gone from here.
  std::vector<replica_entry> replicas;
  std::vector<scale_waiter> scale_waiters;
  std::string message;
};

struct app_entry {
  std::string name;
  std::string prefix;
  std::string ingress;
  application_state state = application_state::not_started;
  /// Children before parents.
  std::vector<std::string> order;
  std::map<std::string, deployment_entry> deployments;
  std::vector<caf::typed_response_promise<application_status>> deploy_waiters;
  std::vector<caf::typed_response_promise<bool>> delete_waiters;
  /// Replicas still draining while the app is being deleted.
  size_t draining = 0;
  std::string message;
};

struct controller_data {
  std::map<std::string, app_entry> apps;
  std::vector<caf::actor> route_subscribers;
  uint64_t next_replica_id = 1;
  /// Replica id -> (app, deployment).
  std::unordered_map<uint64_t, std::pair<std::string, std::string>> index;
  std::vector<caf::typed_response_promise<bool>> shutdown_waiters;
  std::string node;
  static inline const char* name = "actorserve.controller";
};

using controller_ptr = controller_actor::stateful_pointer<controller_data>;

// -- status
// ---------------------------------------------------------------------

deployment_state state_of(const deployment_entry& dep) {
  auto ready = std::count_if(
      dep.replicas.begin(), dep.replicas.end(),
      [](const replica_entry& r) { return r.state == replica_state::ready; });
  if (!dep.message.empty())
    return deployment_state::deploy_failed;
  if (static_cast<uint32_t>(ready) == dep.target &&
      dep.replicas.size() == dep.target)
    return deployment_state::healthy;
  return deployment_state::updating;
}

deployment_status status_of(const std::string& name,
                            const deployment_entry& dep) {
  deployment_status result;
  result.name = name;
  result.state = state_of(dep);
  result.target_replicas = dep.target;
  result.message = dep.message;
  result.gateway = dep.gateway;
  for (auto& r : dep.replicas)
    result.replicas.push_back(replica_status{r.id, r.state, 0});
  return result;
}

application_status status_of(const app_entry& app) {
  application_status result;
  result.name = app.name;
  result.route_prefix = app.prefix;
  result.ingress = app.ingress;
  result.state = app.state;
  result.message = app.message;
  for (auto& name : app.order)
    result.deployments.push_back(status_of(name, app.deployments.at(name)));
  return result;
}

// -- routes
// ---------------------------------------------------------------------

route_table make_routes(const controller_data& st) {
  route_table result;
  for (auto& [name, app] : st.apps)
    if (app.state == application_state::running && !app.prefix.empty())
      result.push_back(
          route_entry{app.prefix, name, app.deployments.at(app.ingress).ep});
  // Longest prefix first: the ingress takes the first match.
  std::sort(result.begin(), result.end(),
            [](const route_entry& x, const route_entry& y) {
              return x.prefix.size() > y.prefix.size();
            });
  return result;
}

void publish_routes(controller_ptr self) {
  auto table = make_routes(self->state);
  for (auto& sub : self->state.route_subscribers)
    caf::anon_send(sub, routes_atom::value, table);
}

// -- replicas -----------------------------------------------------------------

/// Publishes the ready replicas to every caller (they read the endpoint at
/// their next call) and tells the gateway, which may have calls waiting.
void push_replicas(deployment_entry& dep) {
  std::vector<replica_ref> refs;
  for (auto& r : dep.replicas)
    if (r.state == replica_state::ready)
      refs.push_back(replica_ref{r.id, r.handle, r.gate});
  dep.ep->publish(std::move(refs));
  caf::anon_send(dep.gateway, replicas_atom::value);
}

void spawn_one(controller_ptr self, app_entry& app, const std::string& name,
               deployment_entry& dep) {
  auto id = self->state.next_replica_id++;
  replica_args args;
  args.id = id;
  args.app = app.name;
  args.spec = dep.spec;
  args.children = dep.children;
  args.controller = caf::actor_cast<caf::actor>(self);
  args.gate = std::make_shared<detail::admission_gate>(
      dep.spec->config.max_ongoing_requests);
  auto gate = args.gate;
  auto handle = spawn_replica(self->home_system(), std::move(args));
  // Linked: replicas end with the controller. Monitored: the controller
  // replaces a replica that dies on its own.
  self->link_to(handle);
  self->monitor(handle);
  dep.replicas.push_back(
      replica_entry{id, handle, replica_state::starting, std::move(gate)});
  self->state.index.emplace(id, std::make_pair(app.name, name));
}

/// Drains a replica that is already out of the router's set.
void drain(controller_ptr self, const replica_entry& r) {
  self->state.index.erase(r.id);
  self->demonitor(r.handle);
  self->request(r.handle, caf::infinite, drain_atom::value)
      .then([](bool) {}, [](caf::error&) {});
}

void answer_scale_waiters(deployment_entry& dep, const std::string& name) {
  if (dep.scale_waiters.empty() || state_of(dep) != deployment_state::healthy)
    return;
  auto st = status_of(name, dep);
  for (auto& w : dep.scale_waiters)
    w.rp.deliver(st);
  dep.scale_waiters.clear();
}

/// Makes the number of live replicas match `dep.target`.
void reconcile(controller_ptr self, app_entry& app, const std::string& name,
               deployment_entry& dep) {
  while (dep.replicas.size() < dep.target)
    spawn_one(self, app, name, dep);
  if (dep.replicas.size() > dep.target) {
    // Stop starting replicas first, then the newest ready ones.
    std::stable_sort(dep.replicas.begin(), dep.replicas.end(),
                     [](const replica_entry& x, const replica_entry& y) {
                       return x.state == replica_state::ready &&
                              y.state != replica_state::ready;
                     });
    std::vector<replica_entry> victims(dep.replicas.begin() + dep.target,
                                       dep.replicas.end());
    dep.replicas.resize(dep.target);
    // Routers stop sending to them first; then they drain what they hold.
    push_replicas(dep);
    for (auto& r : victims)
      drain(self, r);
  }
  answer_scale_waiters(dep, name);
}

// -- applications -------------------------------------------------------------

void finish_delete(controller_ptr self, const std::string& name) {
  auto i = self->state.apps.find(name);
  if (i == self->state.apps.end())
    return;
  auto& app = i->second;
  for (auto& [dname, dep] : app.deployments) {
    dep.ep->remove();
    self->send_exit(dep.gateway, caf::exit_reason::user_shutdown);
  }
  auto waiters = std::move(app.delete_waiters);
  self->state.apps.erase(i);
  for (auto& rp : waiters)
    rp.deliver(true);
  if (self->state.apps.empty()) {
    for (auto& rp : self->state.shutdown_waiters)
      rp.deliver(true);
    self->state.shutdown_waiters.clear();
  }
}

/// Removes the app's routes, empties its routers' replica sets (failing
/// their queues with `unavailable`) and drains every replica.
void start_delete(controller_ptr self, app_entry& app) {
  app.state = application_state::deleting;
  publish_routes(self);
  auto name = app.name;
  for (auto& [dname, dep] : app.deployments) {
    dep.ep->publish({});
    caf::anon_send(dep.gateway, replicas_atom::value);
    for (auto& r : dep.replicas) {
      self->state.index.erase(r.id);
      self->demonitor(r.handle);
      ++app.draining;
      self->request(r.handle, caf::infinite, drain_atom::value)
          .then(
              [self, name](bool) {
                auto i = self->state.apps.find(name);
                if (i != self->state.apps.end() && --i->second.draining == 0)
                  finish_delete(self, name);
              },
              [self, name](caf::error&) {
                auto i = self->state.apps.find(name);
                if (i != self->state.apps.end() && --i->second.draining == 0)
                  finish_delete(self, name);
              });
    }
    dep.replicas.clear();
  }
  if (app.draining == 0)
    finish_delete(self, name);
}

void fail_deploy(controller_ptr self, app_entry& app, const std::string& dep,
                 const std::string& message) {
  app.state = application_state::deploy_failed;
  app.message = "deployment '" + dep + "' failed to start: " + message;
  app.deployments.at(dep).message = message;
  auto err = make_error(errc::user_error, app.message);
  for (auto& rp : app.deploy_waiters)
    rp.deliver(err);
  app.deploy_waiters.clear();
  start_delete(self, app);
}

void check_running(controller_ptr self, app_entry& app) {
  if (app.state != application_state::deploying)
    return;
  for (auto& [name, dep] : app.deployments)
    if (state_of(dep) != deployment_state::healthy)
      return;
  app.state = application_state::running;
  publish_routes(self);
  auto st = status_of(app);
  for (auto& rp : app.deploy_waiters)
    rp.deliver(st);
  app.deploy_waiters.clear();
}

/// Collects the deployments of the graph below `spec`, children first.
caf::error collect(const detail::spec_ptr& spec,
                   std::vector<detail::spec_ptr>& out,
                   std::set<const detail::deployment_spec*>& seen) {
  if (!spec)
    return make_error(errc::invalid_config, "an application node is empty");
  if (seen.count(spec.get()) > 0)
    return {};
  seen.insert(spec.get());
  for (auto& child : spec->children)
    if (auto err = collect(child, out, seen))
      return err;
  out.push_back(spec);
  return {};
}

caf::error validate_app(const controller_data& st, const app_spec& spec,
                        std::vector<detail::spec_ptr>& specs) {
  if (spec.name.empty())
    return make_error(errc::invalid_config,
                      "application name must not be empty");
  if (auto err = validate_route_prefix(spec.name, spec.route_prefix))
    return err;
  if (st.apps.count(spec.name) > 0)
    return make_error(errc::invalid_config,
                      "application '" + spec.name +
                          "' is already running; delete it first");
  if (!spec.route_prefix.empty())
    for (auto& [name, app] : st.apps)
      if (app.prefix == spec.route_prefix)
        return make_error(errc::invalid_config,
                          "application '" + spec.name + "': route_prefix '" +
                              spec.route_prefix + "' is taken by '" + name +
                              "'");
  std::set<const detail::deployment_spec*> seen;
  if (auto err = collect(spec.ingress, specs, seen))
    return err;
  std::set<std::string> names;
  for (auto& s : specs) {
    if (auto err = validate(s->config))
      return make_error(errc::invalid_config,
                        "application '" + spec.name + "': " + message_of(err));
    if (!names.insert(s->config.name).second)
      return make_error(errc::invalid_config,
                        "application '" + spec.name +
                            "': two deployments are named '" + s->config.name +
                            "'");
  }
  if (!spec.route_prefix.empty() && !spec.ingress->accepts_http)
    return make_error(errc::invalid_config,
                      "application '" + spec.name + "': ingress deployment '" +
                          spec.ingress->config.name +
                          "' does not accept http_request; run it with an "
                          "empty route_prefix");
  return {};
}

} // namespace

caf::error validate_route_prefix(const std::string& app,
                                 const std::string& prefix) {
  if (prefix.empty() || prefix == "/")
    return {};
  auto bad = [&](const char* why) {
    return make_error(errc::invalid_config, "application '" + app +
                                                "': route_prefix '" + prefix +
                                                "' " + why);
  };
  if (prefix.front() != '/')
    return bad("must start with '/'");
  if (prefix.back() == '/')
    return bad("must not end with '/'");
  if (prefix.find_first_of("?#{} ") != std::string::npos)
    return bad("must not contain '?', '#', '{', '}' or spaces");
  return {};
}

controller_actor spawn_controller(caf::actor_system& sys) {
  // `node` names this process in status output (and, later, among nodes). It
  // is also a spawn argument: CAF 0.17 spawns functors without arguments
  // through a null pointer (undefined behavior under UBSan).
  std::string node = "local";
  return sys.spawn(
      [](controller_ptr self,
         std::string node) -> controller_actor::behavior_type {
        self->state.node = std::move(node);
        // Children (routers, replicas) are linked so that they end with the
        // controller; their own exits are handled by the down handler. An exit
        // sent to the controller itself (`anon_send_exit` names the receiver as
        // the source) ends it.
        self->set_exit_handler([self](caf::exit_msg& msg) {
          if (msg.source == self->address())
            self->quit(std::move(msg.reason));
        });
        self->set_down_handler([self](caf::down_msg& dm) {
          // A replica died outside of a drain: replace it.
          auto& st = self->state;
          for (auto i = st.index.begin(); i != st.index.end(); ++i) {
            auto& [app_name, dep_name] = i->second;
            auto a = st.apps.find(app_name);
            if (a == st.apps.end())
              continue;
            auto& dep = a->second.deployments.at(dep_name);
            auto r = std::find_if(dep.replicas.begin(), dep.replicas.end(),
                                  [&](const replica_entry& e) {
                                    return e.handle.address() == dm.source;
                                  });
            if (r == dep.replicas.end())
              continue;
            dep.replicas.erase(r);
            auto app_copy = app_name;
            auto dep_copy = dep_name;
            st.index.erase(i);
            push_replicas(dep);
            auto& app = a->second;
            if (app.state == application_state::running)
              reconcile(self, app, dep_copy, dep);
            return;
          }
        });
        return {
            [self](deploy_atom,
                   app_spec& spec) -> caf::result<application_status> {
              auto& st = self->state;
              std::vector<detail::spec_ptr> specs;
              if (auto err = validate_app(st, spec, specs))
                return err;
              auto& app = st.apps[spec.name];
              app.name = spec.name;
              app.prefix = spec.route_prefix;
              app.ingress = spec.ingress->config.name;
              app.state = application_state::deploying;
              std::map<const detail::deployment_spec*, endpoint_ptr> eps;
              for (auto& s : specs) {
                app.order.push_back(s->config.name);
                auto& dep = app.deployments[s->config.name];
                dep.spec = s;
                dep.target = s->config.num_replicas;
                dep.ep = std::make_shared<endpoint>(
                    spec.name, s->config.name, s->config.max_ongoing_requests,
                    s->config.max_queued_requests);
                dep.gateway = spawn_gateway(self->home_system(), dep.ep,
                                            st.next_replica_id * 7919);
                self->link_to(dep.gateway); // gateways end with the controller
                eps[s.get()] = dep.ep;
                for (auto& child : s->children)
                  dep.children.push_back(eps.at(child.get()));
              }
              auto rp = self->make_response_promise<application_status>();
              app.deploy_waiters.push_back(rp);
              for (auto& name : app.order)
                reconcile(self, app, name, app.deployments.at(name));
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
              auto& dep = a->second.deployments.at(dep_name);
              dep.target = n;
              auto rp = self->make_response_promise<deployment_status>();
              dep.scale_waiters.push_back(scale_waiter{rp});
              reconcile(self, a->second, dep_name, dep);
              return rp;
            },
            [self](status_atom) {
              serve_status result;
              for (auto& [name, app] : self->state.apps)
                result.applications.push_back(status_of(app));
              return result;
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
              if (st.apps.empty())
                return true;
              auto rp = self->make_response_promise<bool>();
              st.shutdown_waiters.push_back(rp);
              for (auto& [name, app] : st.apps)
                if (app.state != application_state::deleting)
                  start_delete(self, app);
              return rp;
            },
            [self](ready_atom, uint64_t id, bool ok, std::string& message) {
              auto& st = self->state;
              auto i = st.index.find(id);
              if (i == st.index.end())
                return; // drained or deleted meanwhile
              auto& app = st.apps.at(i->second.first);
              auto dep_name = i->second.second;
              auto& dep = app.deployments.at(dep_name);
              auto r = std::find_if(
                  dep.replicas.begin(), dep.replicas.end(),
                  [&](const replica_entry& e) { return e.id == id; });
              if (r == dep.replicas.end())
                return;
              if (!ok) {
                r->state = replica_state::failed;
                if (app.state == application_state::deploying)
                  fail_deploy(self, app, dep_name, message);
                return; // a running app replaces it when the down message comes
              }
              r->state = replica_state::ready;
              push_replicas(dep);
              answer_scale_waiters(dep, dep_name);
              check_running(self, app);
            },
        };
      },
      std::move(node));
}

} // namespace actorserve
