/// @file
/// The head's front on its cluster port (private to the library): the only
/// thing a peer reaches there before it proved the cluster token.
///
/// A thread of its own accepts connections and runs the challenge and
/// response of auth.hpp on each, all at once with poll() and a deadline
/// per connection. Only an admitted connection goes on: its socket becomes
/// a scribe of CAF's BASP broker, which then writes its server handshake
/// and offers the head's gate, as for a connection to a published port. A
/// refused one is closed having reached nothing, no actor by id, no proxy,
/// no registry entry.
///
/// Failed handshakes (wrong or missing token, bad bytes, too slow) are
/// counted per source address and for all addresses (front_limits.hpp);
/// past either budget a connection is closed at once, without a challenge.
/// Refusals are logged, at most a few lines per window and then one line
/// that counts the rest.
///
/// Ownership: `serve` keeps it through the gate actor; `stop` (or the
/// destructor) ends the thread and closes every socket not handed on.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

namespace actorserve::detail {

class cluster_front {
public:
  struct settings {
    std::string host;
    uint16_t port = 0;
    std::string token;
    /// How long a peer has for its answer.
    std::chrono::milliseconds handshake_timeout{5000};
    /// Handshakes under way at once, in all and from one source address;
    /// more connections are closed.
    size_t max_pending = 64;
    size_t max_pending_per_address = 4;
  };

  /// Listens on `cfg.host:cfg.port` and starts the thread; connections
  /// that pass reach `gate` (with its interface, `sigs`).
  static caf::expected<std::shared_ptr<cluster_front>>
  start(caf::actor_system& sys, settings cfg, caf::strong_actor_ptr gate,
        std::set<std::string> sigs);

  ~cluster_front();

  cluster_front(const cluster_front&) = delete;
  cluster_front& operator=(const cluster_front&) = delete;

  /// The port it listens on.
  uint16_t port() const noexcept { return port_; }

  /// Ends the thread and closes the port. Idempotent.
  void stop();

  struct loop; // the thread's state (front.cpp)

private:
  cluster_front() = default;

  int listener_ = -1;
  int wake_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopped_{false};
};

} // namespace actorserve::detail
