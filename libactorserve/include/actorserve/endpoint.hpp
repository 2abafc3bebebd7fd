/// @file
/// A deployment's endpoint: where callers find its replicas.
///
/// The controller owns one endpoint per deployment and publishes the set of
/// ready replicas into it whenever the set changes (Ray Serve's long-poll
/// update). Callers (HTTP ingress threads, replicas calling other
/// deployments, the gateway for everyone else) read it: each keeps the
/// snapshot it last saw and compares one version number per request, an
/// atomic load of a cache line that only changes when the replica set does,
/// so reading it is not a serialization point. Taking a new snapshot locks
/// a mutex, once per change and caller.
///
/// Thread safety: every member is safe to call from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include "actorserve/messages.hpp"

namespace actorserve {

/// One published state of a deployment's replicas.
struct replica_set {
  /// Ready replicas, the only ones callers send to.
  std::vector<replica_ref> replicas;
  /// The deployment was deleted: callers fail what they hold with
  /// `unavailable`.
  bool removed = false;
  /// The deployment may have no replicas for a while (autoscaled with
  /// `min_replicas` 0): with none, callers queue calls (bounded by their
  /// deadlines) while the controller starts one, instead of failing them.
  bool scales_from_zero = false;
};

namespace detail {

/// A value that one writer replaces now and then and many threads read at
/// every request: readers compare a version (an atomic load of a cache line
/// that only changes with the value) and take the mutex only when it moved.
template <class T>
class published {
public:
  explicit published(std::shared_ptr<const T> init)
      : current_(std::move(init)) {}

  void set(std::shared_ptr<const T> x) {
    std::lock_guard<std::mutex> guard{mtx_};
    current_ = std::move(x);
    version_.fetch_add(1, std::memory_order_acq_rel);
  }

  uint64_t version() const noexcept {
    return version_.load(std::memory_order_acquire);
  }

  std::shared_ptr<const T> get() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return current_;
  }

  /// Refreshes a reader's cached copy when the version moved.
  void refresh(uint64_t& seen, std::shared_ptr<const T>& cached) const {
    auto v = version();
    if (v != seen) {
      seen = v;
      cached = get();
    }
  }

private:
  std::atomic<uint64_t> version_{1};
  mutable std::mutex mtx_;
  std::shared_ptr<const T> current_; // guarded by mtx_
};

} // namespace detail

class endpoint {
public:
  endpoint(std::string app, std::string deployment,
           uint32_t max_ongoing_requests, int64_t max_queued_requests);

  const std::string& app() const noexcept { return app_; }

  const std::string& deployment() const noexcept { return deployment_; }

  /// What each replica admits at once; callers send a replica no more
  /// calls than this.
  uint32_t max_ongoing_requests() const noexcept {
    return max_ongoing_.load(std::memory_order_relaxed);
  }

  /// How many calls each caller may hold waiting; -1 means unlimited.
  int64_t max_queued_requests() const noexcept {
    return max_queued_.load(std::memory_order_relaxed);
  }

  /// Calls all callers hold waiting for a replica (the autoscaler's
  /// queued load). Touched only when a call has to wait.
  int64_t queued() const noexcept {
    return queued_.load(std::memory_order_relaxed);
  }

  /// A caller's call started or stopped waiting.
  void add_queued(int64_t delta) noexcept {
    queued_.fetch_add(delta, std::memory_order_relaxed);
  }

  /// The waiting calls of this process's HTTP ingress, which counts as one
  /// caller however many threads it runs (as a Ray Serve proxy does).
  const std::shared_ptr<std::atomic<int64_t>>& ingress_budget() const noexcept {
    return ingress_budget_;
  }

  // -- the controller -------------------------------------------------------

  /// Replaces the replica set; callers see it at their next request.
  void publish(std::vector<replica_ref> replicas,
               bool scales_from_zero = false);

  /// Changes the limits in place (an update of the deployment's config).
  void set_limits(uint32_t max_ongoing_requests, int64_t max_queued_requests);

  /// Marks the deployment deleted and drops the gateway.
  void remove();

  /// Sets the actor that routes for callers outside replicas and the
  /// ingress (gateway.hpp).
  void set_gateway(caf::actor gateway);

  // -- callers --------------------------------------------------------------

  /// Changes whenever `snapshot()` would return something new.
  uint64_t version() const noexcept { return set_.version(); }

  /// The current replica set (never null).
  std::shared_ptr<const replica_set> snapshot() const { return set_.get(); }

  /// The gateway, or null once the deployment is removed.
  caf::actor gateway() const;

private:
  std::string app_;
  std::string deployment_;
  std::atomic<uint32_t> max_ongoing_;
  std::atomic<int64_t> max_queued_;
  std::atomic<int64_t> queued_{0};
  std::shared_ptr<std::atomic<int64_t>> ingress_budget_;
  detail::published<replica_set> set_;
  mutable std::mutex mtx_;
  bool removed_ = false; // guarded by mtx_
  caf::actor gateway_;   // guarded by mtx_
};

using endpoint_ptr = std::shared_ptr<endpoint>;

/// One entry of the HTTP route table the controller pushes to ingresses.
struct route_entry {
  std::string prefix;
  std::string app;
  /// The endpoint of the application's ingress deployment.
  endpoint_ptr target;
};

/// Longest prefix first. Process-local: it holds endpoints.
using route_table = std::vector<route_entry>;

} // namespace actorserve

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(actorserve::route_table)
