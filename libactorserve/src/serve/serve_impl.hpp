/// @file
/// The state behind `serve` (private to the library): the actor system,
/// the controller, the servers and the cluster link. serve.cpp starts and
/// stops it; serve_cluster.cpp joins nodes; serve_admin.cpp answers the
/// admin API's declarative changes.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <string>
#include <thread>

#include "cluster/cluster_impl.hpp"
#include "cluster/node_agent.hpp"
#include "store/state_writer.hpp"
#include "ingress/admin_server.hpp"
#include "ingress/http_server.hpp"
#include "actorserve/app_registry.hpp"
#include "actorserve/error.hpp"
#include "actorserve/serve.hpp"
#include "runtime/serve_config.hpp"
#include "runtime/spin_scheduler.hpp"
#include "runtime/worker_scheduler.hpp"

namespace actorserve {

struct serve::impl {
  explicit impl(serve_options o) : opts(std::move(o)) {
    cfg.set("scheduler.max-threads", opts.system_threads);
    cfg.idle_spin = opts.idle_spin;
    cfg.user_threads = opts.user_threads;
    auto spin = opts.idle_spin;
    // At most one polling thread per core by default (spin_queue.hpp).
    detail::spin_budget::instance().set_limit(static_cast<int>(
        opts.spin_threads > 0 ? opts.spin_threads : available_cores()));
    if (opts.scheduler_policy == "stealing") {
      cfg.set("scheduler.policy", caf::atom("stealing"));
    } else if (opts.scheduler_policy == "sharing") {
      // One shared queue that spins before parking (spin_scheduler.hpp).
      cfg.module_factories.push_back(
          [spin](caf::actor_system& sys) -> caf::actor_system::module* {
            return new detail::spin_coordinator(sys, spin);
          });
    } else {
      // A queue per worker, with stealing (worker_scheduler.hpp).
      cfg.module_factories.push_back(
          [spin](caf::actor_system& sys) -> caf::actor_system::module* {
            return new detail::worker_coordinator(sys, spin);
          });
    }
    cfg.set("logger.console-verbosity", caf::atom("quiet"));
    register_types(cfg);
    for (auto& add : opts.message_types)
      add(cfg);
    if (opts.cluster.listen || !opts.cluster.join.empty()) {
      detail::load_transport(cfg, opts.cluster);
      cfg.forget_node = [this](const caf::node_id& node) {
        detail::forget_node(*sys, node);
      };
    }
  }

  serve_options opts;
  detail::serve_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  controller_actor controller;
  std::unique_ptr<detail::http_server> http;
  std::unique_ptr<detail::admin_server> admin;
  /// The head: its published gate and port. A worker: its link.
  cluster_gate_actor gate;
  uint16_t cluster_port = 0;
  /// The head: stops its cluster front (joins its thread); empty otherwise.
  std::function<void()> close_cluster_port;
  detail::cluster_link link;
  /// A worker: its node id, which changes when it joins again after the
  /// head declared it DEAD (the agent writes it).
  std::shared_ptr<std::atomic<uint64_t>> node_id =
      std::make_shared<std::atomic<uint64_t>>(0);
  /// The config `deploy` applied last (JSON text).
  mutable std::mutex config_mtx;
  std::string deployed_config = "null";
  /// The head's state store (null without one): its writer, the lease's
  /// own connection and renewing thread, and the serve-level keys it
  /// recovered.
  detail::writer_ptr writer;
  detail::store_ptr lease_store;
  std::string lease_owner;
  std::thread lease_thread;
  std::mutex lease_mtx;
  std::condition_variable lease_cv;
  bool lease_stop = false; // guarded by lease_mtx
  /// Why the lease's last renewal failed (the store is unreachable); empty
  /// while it succeeds. Guarded by lease_mtx.
  std::string lease_error;
  std::string recovered_run_file;
  /// The application builders a declarative deploy uses (run_cli).
  const app_registry* apps = nullptr;
  /// A worker: the deployments its binary registers (`run`).
  detail::registry_ptr registry;
  /// `wait()` is blocked: a worker that loses its head stops it.
  std::atomic<bool> waiting{false};
  bool stopped = false;
  /// `--expect-nodes` was waited for (before the first application).
  bool nodes_waited = false;

  bool worker() const noexcept { return !opts.cluster.join.empty(); }

  /// What the controller's requests get on a worker node.
  caf::error no_controller() const {
    return make_error(errc::unavailable,
                      "this process is a worker node of the head at " +
                          opts.cluster.join +
                          "; ask the head (its status and admin API)");
  }
};

} // namespace actorserve
