/// @file
/// What the controller keeps in the state store, and what a restarted head
/// does with it (private to the library).
///
/// ## Keys (values are CAF's binary encoding of the records below)
///
/// | key | record | written when |
/// |---|---|---|
/// | `v1/meta` | `stored_meta`: the next replica and node ids | ids are taken |
/// | `v1/app/<app>` | `stored_app`: route prefix, ingress, order | deployed, updated, deleted |
/// | `v1/dep/<app>/<deployment>` | `stored_deployment`: its base and current config, target, replicas | any of those changes |
/// | `v1/nodes` | `stored_node`s: the worker nodes alive | a node joins or dies |
///
/// Derived state (endpoints, routes, health records, load, autoscaling
/// windows) is recomputed, never stored. `serve` adds `v1/serve/...` keys of
/// its own (the last declarative config).
///
/// The controller writes after the turn that changed something: it renders
/// every record, and submits the ones that differ from what it wrote last
/// (one batch, applied atomically by the writer, state_writer.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/binary_serializer.hpp>
#include <caf/serializer.hpp>

#include "actorserve/cluster.hpp"
#include "actorserve/config.hpp"
#include "actorserve/placement.hpp"
#include "store/state_writer.hpp"

namespace actorserve::detail {

struct stored_replica {
  uint64_t id = 0;
  uint64_t node = 0;
  std::string version;
  int64_t started_at_ms = 0;
  /// Its actor on its node, for operators reading the store.
  std::string address;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_replica& x) {
  return f(x.id, x.node, x.version, x.started_at_ms, x.address);
}

struct stored_deployment {
  /// The config it was deployed with, and the one it runs (patches and
  /// scales applied).
  deployment_config base;
  deployment_config current;
  uint32_t target = 0;
  bool autoscaled = false;
  std::vector<stored_replica> replicas;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_deployment& x) {
  return f(x.base, x.current, x.target, x.autoscaled, x.replicas);
}

struct stored_app {
  std::string name;
  std::string prefix;
  std::string ingress;
  std::vector<std::string> order;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_app& x) {
  return f(x.name, x.prefix, x.ingress, x.order);
}

struct stored_node {
  uint64_t id = 0;
  std::string host;
  int64_t pid = 0;
  resource_set resources;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_node& x) {
  return f(x.id, x.host, x.pid, x.resources);
}

struct stored_meta {
  uint64_t next_replica_id = 1;
  uint64_t next_node_id = 2;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stored_meta& x) {
  return f(x.next_replica_id, x.next_node_id);
}

/// A replica a rejoining worker offered before its deployment was deployed
/// again (`run` comes after the workers, or a config is rebuilt).
struct offered_replica {
  uint64_t node = 0;
  hosted_replica_report report;
};

/// What a head with a store starts from.
struct store_setup {
  writer_ptr writer;
  /// What it read back (empty on a first start).
  bool found = false;
  stored_meta meta;
  std::map<std::string, stored_app> apps;
  /// By "app/deployment".
  std::map<std::string, stored_deployment> deployments;
  std::vector<stored_node> nodes;
  /// The controller's records as read (its `written` at start).
  std::map<std::string, std::string> raw;
  /// How long to wait for the workers it knew.
  std::chrono::milliseconds grace{0};
  /// Offers waiting for their deployment, by "app/deployment".
  std::map<std::string, std::vector<offered_replica>> offered;
};

/// The stored records' keys.
std::string app_key(const std::string& app);
std::string deployment_key(const std::string& app, const std::string& dep);
inline constexpr const char* meta_key = "v1/meta";
inline constexpr const char* nodes_key = "v1/nodes";

/// Walks a value as a serializer would and notes whether any floating
/// point number in it is infinite or NaN: CAF 0.17.6's binary serializer
/// never returns on an infinite one (its pack754 loops), so such a record
/// (from a peer's hello, or a store someone else wrote) is never encoded.
class finite_probe final : public caf::serializer {
public:
  explicit finite_probe(caf::execution_unit* ctx = nullptr)
      : caf::serializer(ctx) {}
  caf::error begin_object(uint16_t&, std::string&) override { return {}; }
  caf::error end_object() override { return {}; }
  caf::error begin_sequence(size_t&) override { return {}; }
  caf::error end_sequence() override { return {}; }
  caf::error apply_raw(size_t, void*) override { return {}; }
  bool finite = true;

protected:
  caf::error apply_impl(int8_t&) override { return {}; }
  caf::error apply_impl(uint8_t&) override { return {}; }
  caf::error apply_impl(int16_t&) override { return {}; }
  caf::error apply_impl(uint16_t&) override { return {}; }
  caf::error apply_impl(int32_t&) override { return {}; }
  caf::error apply_impl(uint32_t&) override { return {}; }
  caf::error apply_impl(int64_t&) override { return {}; }
  caf::error apply_impl(uint64_t&) override { return {}; }
  caf::error apply_impl(float& x) override { return note(x); }
  caf::error apply_impl(double& x) override { return note(x); }
  caf::error apply_impl(long double& x) override { return note(x); }
  caf::error apply_impl(std::string&) override { return {}; }
  caf::error apply_impl(std::u16string&) override { return {}; }
  caf::error apply_impl(std::u32string&) override { return {}; }

private:
  template <class F>
  caf::error note(F x) {
    finite = finite && std::isfinite(x);
    return {};
  }
};

/// Whether every floating point number in `x` is finite.
template <class T>
bool all_finite(T& x) {
  finite_probe probe;
  return !probe(x) && probe.finite;
}

/// Encodes a record (CAF's binary format); empty if it cannot (a number
/// that is not finite among them).
template <class T>
std::string encode_record(const T& x) {
  auto copy = x; // CAF 0.17's inspectors take their subject by reference
  if (!all_finite(copy))
    return {};
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  if (auto err = sink(copy))
    return {};
  return std::string{buf.begin(), buf.end()};
}

/// Decodes what `load` read into `out`; false (and `why`) for a record it
/// cannot read, which is skipped.
bool decode_state(const std::map<std::string, std::string>& kv,
                  store_setup& out, std::string& why);

/// Whether two configs are the same in every field.
bool same_config(const deployment_config& x, const deployment_config& y);

/// The pure decision of adoption: which offered replicas of one deployment
/// a restarted head takes as they are, and which it stops.
struct adoption_plan {
  std::vector<uint64_t> adopt;
  std::vector<uint64_t> stop;
};

/// Takes an offered replica when the stored table lists its id for this
/// deployment (`stored`), it runs `version`, and the deployment still
/// wants one (`live` of `target`); stops every other offer.
adoption_plan plan_adoption(const std::vector<hosted_replica_report>& offers,
                            const std::vector<uint64_t>& stored,
                            const std::string& version, uint32_t target,
                            size_t live);

} // namespace actorserve::detail
