/// @file
/// The head's durable state store (private to the library): keys and
/// values, changed in atomic batches. The controller writes its declarative
/// state there (control/controller_store.cpp says which keys); a restarted
/// head reads it back.
///
/// Every call blocks for at most the store's timeout; none is made on the
/// request path. One thread uses a store at a time (the writer's, or the
/// head's start-up before the writer exists).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace actorserve::detail {

/// One change: keys to set and keys to erase, applied all or nothing (a
/// key in both is erased: the erases come last).
struct store_batch {
  std::map<std::string, std::string> puts;
  std::vector<std::string> erases;
  bool empty() const noexcept { return puts.empty() && erases.empty(); }
};

class state_store {
public:
  virtual ~state_store() = default;

  /// Applies `batch` atomically: after a crash, either all of it or none
  /// of it is there. `unavailable` when the store cannot be reached.
  virtual caf::error commit(const store_batch& batch) = 0;

  /// Every key and its value.
  virtual caf::expected<std::map<std::string, std::string>> load() = 0;

  /// Takes or renews the leader's lease for `owner` for `ttl`: true while
  /// `owner` holds it, false while another does. The embedded store has a
  /// single head: always true.
  virtual caf::expected<bool> hold_lease(const std::string& owner,
                                         std::chrono::milliseconds ttl) = 0;

  /// Gives the lease up if `owner` holds it (a clean shutdown).
  virtual void release_lease(const std::string& owner) = 0;

  /// Records `address` (the leader's cluster address, HOST:PORT) for
  /// workers looking for a new leader; kept apart from `load`'s keys.
  virtual caf::error publish_leader(const std::string& address) = 0;

  /// The address the last leader published; empty when none did.
  virtual caf::expected<std::string> leader_address() = 0;

  /// Where it lives, for logs and status: "sqlite:DIR/state.db" or
  /// "redis://HOST:PORT/PREFIX".
  virtual std::string where() const = 0;
};

using store_ptr = std::shared_ptr<state_store>;

/// Opens the store the options name: SQLite at `dir`/state.db (creating
/// `dir`), or Redis at `url` (`redis://HOST:PORT/KEYPREFIX`, AUTH with
/// `password` when not empty). Each operation is bounded by `timeout`.
/// `invalid_config` naming the flag for a bad URL or an unusable directory;
/// `unavailable` when Redis cannot be reached (opening does not retry).
caf::expected<store_ptr> open_state_store(const std::string& dir,
                                          const std::string& url,
                                          const std::string& password,
                                          std::chrono::milliseconds timeout);

/// `redis://HOST:PORT/KEYPREFIX`, taken apart.
struct redis_url {
  std::string host;
  uint16_t port = 0;
  std::string prefix;
};

/// Parses `url` strictly: a scheme of `redis://`, a host, a port of 1 to
/// 65535 and a prefix of letters, digits and `_.:-`; `invalid_config`
/// naming `--state-store` otherwise.
caf::expected<redis_url> parse_redis_url(const std::string& url);

/// The backends `open_state_store` picks from.
caf::expected<store_ptr> open_sqlite_store(const std::string& dir,
                                           std::chrono::milliseconds timeout);
caf::expected<store_ptr> open_redis_store(const redis_url& url,
                                          const std::string& password,
                                          std::chrono::milliseconds timeout);

} // namespace actorserve::detail
