/// @file
/// The actor system configuration `serve` creates, carrying the runtime's
/// own settings to code that only sees the actor system.
#pragma once

#include <chrono>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

namespace actorserve::detail {

class serve_config : public caf::actor_system_config {
public:
  /// How long idle system-plane workers and user-plane threads spin before
  /// they park (serve_options::idle_spin).
  std::chrono::nanoseconds idle_spin{0};
  /// Base size of the user plane's pool (serve_options::user_threads).
  size_t user_threads = 1;
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

} // namespace actorserve::detail
