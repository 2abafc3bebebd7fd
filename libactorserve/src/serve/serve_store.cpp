// serve and the head's state store: the leader's lease, reading the store
// back at start, refusing changes while it fails, waiting for a change to
// be written, and the config `run CONFIG` deployed.
#include <algorithm>
#include <chrono>
#include <functional>
#include <random>

#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "actorserve/deploy_config.hpp"
#include "actorserve/metrics.hpp"
#include "control/controller_store.hpp"
#include "ops/logging.hpp"
#include "serve/serve_impl.hpp"
#include "base/text.hpp"

namespace actorserve {

namespace {

constexpr const char* config_key = "v1/serve/deployed_config";
constexpr const char* run_file_key = "v1/serve/run_file";

std::string owner_name() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  std::random_device rd;
  return std::string{host} + ":" + std::to_string(::getpid()) + ":" +
         std::to_string(rd());
}

/// Blocks until `store` grants `owner` the lease: a standby for as long as
/// another head leads, any other head for two TTLs (the lease of a head
/// killed a moment ago lapses by then).
void take_lease(detail::state_store& store, const std::string& owner,
                std::chrono::milliseconds ttl, bool standby) {
  bool said = false;
  auto give_up = std::chrono::steady_clock::now() + 2 * ttl;
  for (;;) {
    auto held = store.hold_lease(owner, ttl);
    if (held && *held) {
      if (said)
        detail::log_line{detail::log_level::info}
            << "took the leader's lease at " << store.where()
            << ": this head leads now";
      return;
    }
    if (!standby && std::chrono::steady_clock::now() >= give_up)
      throw error_exception(
          errc::unavailable,
          held ? "another head holds the lease of the state store at " +
                     store.where() + " (start this one with --standby)"
               : "the state store at " + store.where() +
                     " cannot be reached: " + message_of(held.error()));
    if (!said)
      detail::log_line{detail::log_level::info}
          << (standby ? "standby: " : "")
          << "waiting for the leader's lease at " << store.where();
    said = true;
    std::this_thread::sleep_for(ttl / 3);
  }
}

void add_store_metrics(caf::actor_system& sys, const detail::writer_ptr& w) {
  auto reg = metrics_of(sys);
  if (!reg)
    return;
  std::weak_ptr<detail::state_writer> weak = w;
  reg->add_gauge_fn("actorserve_state_store_up",
                    "Whether the head's state store takes its writes", {}, w,
                    [weak] {
                      auto x = weak.lock();
                      return x && x->health().ok ? 1.0 : 0.0;
                    });
  reg->add_gauge_fn("actorserve_state_store_write_failures",
                    "Writes to the state store that failed since start", {}, w,
                    [weak] {
                      auto x = weak.lock();
                      return x ? static_cast<double>(x->health().failures)
                               : 0.0;
                    });
}

/// Renews the lease every third of its TTL on a thread of its own; the
/// renewal doubles as the store's health check.
template <class Impl>
void start_lease_renewal(Impl& d, std::chrono::milliseconds ttl) {
  d.lease_thread = std::thread{[&d, ttl] {
    std::unique_lock<std::mutex> guard{d.lease_mtx};
    while (!d.lease_cv.wait_for(guard, ttl / 3, [&d] { return d.lease_stop; })) {
      guard.unlock();
      auto held = d.lease_store->hold_lease(d.lease_owner, ttl);
      guard.lock();
      // The renewal doubles as the store's health check: while it fails,
      // changes are refused; once it works again, the writer brings the
      // store in line (it may have come back empty).
      if (!held) {
        d.lease_error = message_of(held.error());
        if (d.writer)
          d.writer->report_unreachable(d.lease_error);
      } else if (!d.lease_error.empty()) {
        d.lease_error.clear();
        if (d.writer)
          d.writer->resync();
      }
      if (held && !*held) {
        // Another head leads now: two leaders would write over each
        // other, so this one ends at once.
        detail::log_line{detail::log_level::error}
            << "lost the leader's lease of the state store; exiting";
        std::_Exit(3);
      }
    }
  }};
}

} // namespace

std::shared_ptr<detail::store_setup> serve::open_state_store() {
  auto& d = *impl_;
  auto& o = d.opts.state;
  if (!o.enabled())
    return nullptr;
  auto open = [&] {
    auto s = detail::open_state_store(o.dir, o.store, o.password, o.timeout);
    if (!s)
      throw error_exception(code_of(s.error()), message_of(s.error()));
    return *s;
  };
  auto store = open();
  // The lease has a connection of its own: the writer's thread owns the
  // other.
  d.lease_store = open();
  d.lease_owner = owner_name();
  take_lease(*d.lease_store, d.lease_owner, o.lease_ttl, o.standby);
  auto kv = store->load();
  if (!kv)
    throw error_exception(errc::unavailable,
                          "cannot read the state store at " + store->where() +
                              ": " + message_of(kv.error()));
  auto setup = std::make_shared<detail::store_setup>();
  std::string why;
  if (!detail::decode_state(*kv, *setup, why))
    detail::log_line{detail::log_level::warning}
        << "skipped unreadable records of the state store: " << why;
  if (auto i = kv->find(config_key); i != kv->end())
    d.deployed_config = i->second;
  if (auto i = kv->find(run_file_key); i != kv->end())
    d.recovered_run_file = i->second;
  // By default long enough for every worker's next try to join (they back
  // off up to max_rejoin_backoff), and at least three heartbeat periods.
  auto period = d.opts.cluster.heartbeat.period;
  setup->grace = o.recovery_grace.count() > 0
                     ? o.recovery_grace
                     : std::max(3 * period,
                                detail::max_rejoin_backoff + period);
  d.writer = detail::start_state_writer(std::move(store), std::move(*kv));
  setup->writer = d.writer;
  // After the writer exists: the renewal reports to it.
  start_lease_renewal(d, o.lease_ttl);
  add_store_metrics(*d.sys, d.writer);
  detail::log_line{detail::log_level::info}
      << "state store: " << d.writer->health().where
      << (setup->found ? " (recovering what it holds)" : " (empty)");
  return setup;
}

void serve::publish_leader(const std::string& address) {
  auto& o = impl_->opts.state;
  if (!o.enabled())
    return;
  // A connection of its own: the writer and the lease use theirs.
  auto store = detail::open_state_store(o.dir, o.store, o.password, o.timeout);
  auto err = store ? (*store)->publish_leader(address) : store.error();
  if (err)
    detail::log_line{detail::log_level::warning}
        << "could not publish this head's address in the state store: "
        << message_of(err);
}

std::string serve::leader_address(const state_options& o,
                                  const std::string& fallback) {
  if (o.store.empty())
    return fallback;
  auto store = detail::open_state_store("", o.store, o.password, o.timeout);
  if (!store)
    return fallback;
  auto address = (*store)->leader_address();
  return address && !address->empty() ? *address : fallback;
}

caf::error serve::store_refuses() const {
  auto& w = impl_->writer;
  if (!w)
    return {};
  auto h = w->health();
  if (h.ok)
    return {};
  return make_error(errc::unavailable,
                    "the state store at " + h.where + " is unreachable (" +
                        h.error +
                        "); changes are refused until it is back, and "
                        "serving goes on");
}

caf::error serve::persisted() {
  auto& d = *impl_;
  if (!d.writer || !d.controller)
    return {};
  caf::scoped_actor self{*d.sys};
  uint64_t seq = 0;
  caf::error failed;
  self->request(d.controller, d.opts.state.timeout * 2, persist_atom::value)
      .receive([&](uint64_t x) { seq = x; },
               [&](caf::error& err) { failed = std::move(err); });
  if (failed)
    return failed;
  if (seq == 0 || d.writer->wait_written(seq, d.opts.state.timeout * 2))
    return {};
  return make_error(errc::unavailable,
                    "the change is applied but the state store at " +
                        d.writer->health().where +
                        " did not take it yet; it is retried");
}

void serve::close_state_store() {
  auto& d = *impl_;
  if (d.writer)
    d.writer->stop(d.opts.state.timeout);
  if (d.lease_thread.joinable()) {
    {
      std::lock_guard<std::mutex> guard{d.lease_mtx};
      d.lease_stop = true;
    }
    d.lease_cv.notify_all();
    d.lease_thread.join();
    d.lease_store->release_lease(d.lease_owner);
  }
}

caf::error serve::deploy_at_start(const deploy_config& cfg,
                                  const app_registry& apps) {
  auto& d = *impl_;
  auto text = detail::dump_json(cfg.source);
  auto same_file = !d.recovered_run_file.empty() && d.recovered_run_file == text;
  auto stored = deployed_config();
  if (d.writer && same_file && stored != "null") {
    auto recovered = parse_deploy_config(stored, "the state store's config");
    if (recovered) {
      detail::log_line{detail::log_level::info}
          << "deploying the config the state store holds (the changes made "
             "since this server started from the same file)";
      return deploy(*recovered, apps);
    }
    detail::log_line{detail::log_level::warning}
        << "the state store's config is unreadable ("
        << message_of(recovered.error()) << "); deploying the file";
  }
  if (auto err = deploy(cfg, apps))
    return err;
  if (d.writer) {
    detail::store_batch b;
    b.puts.emplace(run_file_key, text);
    d.writer->submit(std::move(b));
  }
  return {};
}

} // namespace actorserve
