/// @file
/// Deployments and the application graph.
///
/// A deployment is a typed CAF actor function plus a `deployment_config`.
/// `bind(args...)` fixes its constructor arguments and returns an `app_node`;
/// passing one `app_node` into another's `bind` composes them: the parent's
/// function receives a `handle<ChildInterface>` in that position.
///
/// ```cpp
/// auto tok = serve.deployment("Tokenizer", tokenizer).num_replicas(2).bind();
/// auto app = serve.deployment("Classifier", classifier).bind(tok);
/// serve.run(app, {"classify", "/classify"});
/// ```
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/infer_handle.hpp>
#include <caf/response_type.hpp>

#include "actorserve/config.hpp"
#include "actorserve/endpoint.hpp"
#include "actorserve/handle.hpp"
#include "actorserve/http_types.hpp"
#include "actorserve/replica_api.hpp"

namespace actorserve {

namespace detail {

/// A bound deployment: config, children (the deployments bound into its
/// constructor) and how to spawn the user actor of one replica. It holds
/// code, so it is process-local; a node can only spawn deployments compiled
/// into its own binary.
struct deployment_spec {
  deployment_config config;
  std::vector<std::shared_ptr<deployment_spec>> children;
  /// Whether the interface accepts `http_request` (can be an ingress).
  bool accepts_http = false;
  /// Spawns one replica's user actor in `mode`. `children[i]` is published
  /// at `endpoints[i]`. Holds nothing of the spec itself, so that an
  /// updated copy of the spec spawns the same code.
  std::function<caf::actor(caf::actor_system&, execution,
                           std::shared_ptr<const replica_context>,
                           const std::vector<endpoint_ptr>& endpoints)>
      spawn;
};

using spec_ptr = std::shared_ptr<deployment_spec>;

template <class Interface>
struct child_ref {
  size_t index;
};

} // namespace detail

/// A deployment bound to its constructor arguments; the unit that `run`
/// deploys (with everything bound into it).
template <class Interface>
class app_node {
public:
  using interface_type = Interface;

  explicit app_node(detail::spec_ptr spec) : spec_(std::move(spec)) {}

  const detail::spec_ptr& spec() const noexcept { return spec_; }

private:
  detail::spec_ptr spec_;
};

namespace detail {

/// What a `bind` argument of type `T` arrives as in the deployment's
/// function: a bound deployment (`app_node<I>`) as `handle<I>`.
template <class T>
struct bound_as {
  using type = T;
};

template <class Interface>
struct bound_as<app_node<Interface>> {
  using type = handle<Interface>;
};

/// Fails to compile, with the function, its actor type and the argument
/// types in the compiler's instantiation notes, when `F` does not take
/// `(Impl*, Args&...)`, as its replicas call it.
template <class F, class Impl, class... Args>
constexpr bool check_bind_args() {
  static_assert(
      std::is_invocable<F, Impl*, Args&...>::value,
      "bind(): the deployment's function does not take these arguments after "
      "its self pointer. A bound deployment (app_node<I>) arrives as "
      "handle<I>: check that each handle parameter names the interface of "
      "the node bound in its place (the notes below name the function's "
      "actor type, then the arguments as they arrive)");
  return true;
}

template <class T>
T prepare_arg(deployment_spec&, T x) {
  return x;
}

template <class Interface>
child_ref<Interface> prepare_arg(deployment_spec& parent,
                                 app_node<Interface> node) {
  parent.children.push_back(node.spec());
  return {parent.children.size() - 1};
}

template <class T>
const T& resolve_arg(const T& x, const std::vector<endpoint_ptr>&) {
  return x;
}

template <class Interface>
handle<Interface> resolve_arg(const child_ref<Interface>& x,
                              const std::vector<endpoint_ptr>& endpoints) {
  return handle<Interface>{endpoints.at(x.index)};
}

} // namespace detail

/// Builds a deployment: set its options, then `bind` its arguments.
template <class F>
class deployment_builder {
public:
  using interface_type = typename caf::infer_handle_from_fun<F>::type;

  static_assert(caf::is_typed_actor<interface_type>::value,
                "a deployment function must build a typed actor: "
                "Interface::behavior_type f(Interface::pointer self, ...)");

  deployment_builder(std::string name, F fun) : fun_(std::move(fun)) {
    cfg_.name = std::move(name);
  }

  deployment_builder& num_replicas(uint32_t n) {
    cfg_.num_replicas = n;
    return *this;
  }

  /// Lets the controller scale the deployment by its load (replaces
  /// `num_replicas`).
  deployment_builder& autoscaling(autoscaling_config cfg) {
    cfg_.autoscaling = std::move(cfg);
    return *this;
  }

  /// Names the code's version (see `deployment_config::version`).
  deployment_builder& version(std::string v) {
    cfg_.version = std::move(v);
    return *this;
  }

  deployment_builder& max_ongoing_requests(uint32_t n) {
    cfg_.max_ongoing_requests = n;
    return *this;
  }

  /// CPUs each replica reserves on its node (default 0).
  deployment_builder& num_cpus(double n) {
    cfg_.num_cpus = n;
    return *this;
  }

  /// Custom resources each replica reserves, e.g. {{"accel", 1}}.
  deployment_builder& resources(std::map<std::string, double> r) {
    cfg_.resources = std::move(r);
    return *this;
  }

  /// Most replicas of this deployment on one node (1..100).
  deployment_builder& max_replicas_per_node(uint32_t n) {
    cfg_.max_replicas_per_node = n;
    return *this;
  }

  deployment_builder& max_constructor_retry_count(uint32_t n) {
    cfg_.max_constructor_retry_count = n;
    return *this;
  }

  /// -1 means unlimited.
  deployment_builder& max_queued_requests(int64_t n) {
    cfg_.max_queued_requests = n;
    return *this;
  }

  /// JSON text handed to every replica at start.
  deployment_builder& user_config(std::string json) {
    cfg_.user_config = std::move(json);
    return *this;
  }

  deployment_builder& health_check(std::chrono::milliseconds period,
                                   std::chrono::milliseconds timeout) {
    cfg_.health_check_period = period;
    cfg_.health_check_timeout = timeout;
    return *this;
  }

  /// How long a replica's constructor may take before it counts as failed.
  deployment_builder& startup_timeout(std::chrono::milliseconds t) {
    cfg_.startup_timeout = t;
    return *this;
  }
  /// How long its `reconfigure` hook may take before the replica is
  /// replaced.
  deployment_builder& reconfigure_timeout(std::chrono::milliseconds t) {
    cfg_.reconfigure_timeout = t;
    return *this;
  }
  deployment_builder& graceful_shutdown_timeout(std::chrono::milliseconds t) {
    cfg_.graceful_shutdown_timeout = t;
    return *this;
  }

  deployment_builder& mode(execution x) {
    cfg_.mode = x;
    return *this;
  }

  /// Replaces the whole config except the name.
  deployment_builder& config(deployment_config cfg) {
    cfg.name = cfg_.name;
    cfg_ = std::move(cfg);
    return *this;
  }

  const deployment_config& config() const noexcept { return cfg_; }

  /// Binds constructor arguments. An `app_node` argument becomes a
  /// `handle<Interface>` to that deployment; anything else is copied into
  /// each replica.
  template <class... Ts>
  app_node<interface_type> bind(Ts... xs) const {
    static_assert(
        detail::check_bind_args<F, typename caf::infer_handle_from_fun<F>::impl,
                                typename detail::bound_as<Ts>::type...>());
    auto spec = std::make_shared<detail::deployment_spec>();
    spec->config = cfg_;
    spec->accepts_http = caf::response_type<typename interface_type::signatures,
                                            http_request>::valid;
    auto* raw = spec.get();
    // Each argument is prepared in its own statement, so children keep the
    // order of the arguments.
    auto prepared = std::tuple<decltype(detail::prepare_arg(*raw, xs))...>{
        detail::prepare_arg(*raw, std::move(xs))...};
    auto fun = fun_;
    spec->spawn = [fun, prepared](caf::actor_system& sys, execution mode,
                                  std::shared_ptr<const replica_context> ctx,
                                  const std::vector<endpoint_ptr>& endpoints) {
      return std::apply(
          [&](const auto&... ps) {
            return detail::spawn_user_actor(
                sys, mode, std::move(ctx), fun,
                detail::resolve_arg(ps, endpoints)...);
          },
          prepared);
    };
    return app_node<interface_type>{std::move(spec)};
  }

private:
  F fun_;
  deployment_config cfg_;
};

/// Starts building a deployment named `name` whose replicas run `fun`.
template <class F>
deployment_builder<F> deployment(std::string name, F fun) {
  return {std::move(name), std::move(fun)};
}

} // namespace actorserve
