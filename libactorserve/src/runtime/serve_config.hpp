/// @file
/// The actor system configuration `serve` creates, carrying the runtime's
/// own settings to code that only sees the actor system.
#pragma once

#include <chrono>
#include <functional>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/node_id.hpp>

namespace actorserve::detail {

class serve_config : public caf::actor_system_config {
public:
  /// How long idle system-plane workers and user-plane threads spin before
  /// they park (serve_options::idle_spin).
  std::chrono::nanoseconds idle_spin{0};
  /// Base size of the user plane's pool (serve_options::user_threads).
  size_t user_threads = 1;
  /// Ends this process's proxies of the actors on a node the head declared
  /// DEAD (the cluster's transport, wired by serve/); null without one.
  std::function<void(const caf::node_id&)> forget_node;
};

/// The idle spin of `sys`, or zero for systems `serve` did not create.
inline std::chrono::nanoseconds idle_spin_of(const caf::actor_system& sys) {
  auto cfg = dynamic_cast<const serve_config*>(&sys.config());
  return cfg != nullptr ? cfg->idle_spin : std::chrono::nanoseconds{0};
}

/// The user plane's base pool size for `sys`; 1 for systems `serve` did
/// not create.
inline size_t user_threads_of(const caf::actor_system& sys) {
  auto cfg = dynamic_cast<const serve_config*>(&sys.config());
  return cfg != nullptr ? cfg->user_threads : 1;
}

/// Forgets `node`'s actors through the transport of `sys`; nothing for
/// systems without one (a controller on the test coordinator).
inline void forget_node_of(caf::actor_system& sys, const caf::node_id& node) {
  auto cfg = dynamic_cast<const serve_config*>(&sys.config());
  if (cfg != nullptr && cfg->forget_node)
    cfg->forget_node(node);
}

} // namespace actorserve::detail
