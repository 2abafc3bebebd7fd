// The state store's records (controller_store.hpp): their keys, their
// encoding, and the pure decisions over them (which offered replicas a
// restarted head adopts). No actors: tests/fuzz/state.cpp reads records
// through here.
#include "control/controller_store.hpp"

#include <set>
#include <utility>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

namespace actorserve::detail {

std::string app_key(const std::string& app) {
  return "v1/app/" + app;
}

std::string deployment_key(const std::string& app, const std::string& dep) {
  return "v1/dep/" + app + "/" + dep;
}


namespace {

/// Decodes `bytes` into `out` only when the whole record reads (a record
/// that fails halfway leaves nothing of itself behind).
template <class T>
bool decode_record(const std::string& bytes, T& out) {
  T x;
  caf::binary_deserializer source{nullptr, bytes.data(), bytes.size()};
  if (source(x) || source.remaining() != 0 || !all_finite(x))
    return false;
  out = std::move(x);
  return true;
}

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

} // namespace

bool decode_state(const std::map<std::string, std::string>& kv,
                  store_setup& out, std::string& why) {
  bool ok = true;
  auto bad = [&](const std::string& key) {
    ok = false;
    why += (why.empty() ? "" : ", ") + key;
  };
  for (auto& [key, value] : kv) {
    if (key == meta_key) {
      if (!decode_record(value, out.meta))
        bad(key);
    } else if (key == nodes_key) {
      if (!decode_record(value, out.nodes))
        bad(key);
    } else if (starts_with(key, "v1/app/")) {
      stored_app app;
      if (decode_record(value, app))
        out.apps.emplace(app.name, std::move(app));
      else
        bad(key);
    } else if (starts_with(key, "v1/dep/")) {
      stored_deployment dep;
      if (decode_record(value, dep))
        out.deployments.emplace(key.substr(7), std::move(dep));
      else
        bad(key);
    } else {
      continue; // serve's own keys, and those of later formats
    }
    out.raw.emplace(key, value);
    out.found = true;
  }
  return ok;
}

bool same_config(const deployment_config& x, const deployment_config& y) {
  auto bytes = encode_record(x);
  return !bytes.empty() && bytes == encode_record(y);
}

adoption_plan plan_adoption(const std::vector<hosted_replica_report>& offers,
                            const std::vector<uint64_t>& stored,
                            const std::string& version, uint32_t target,
                            size_t live) {
  adoption_plan plan;
  std::set<uint64_t> known{stored.begin(), stored.end()};
  std::set<uint64_t> taken;
  for (auto& r : offers) {
    bool wanted = known.count(r.id) > 0 && taken.count(r.id) == 0 &&
                  r.version == version &&
                  live + plan.adopt.size() < target;
    if (wanted) {
      plan.adopt.push_back(r.id);
      taken.insert(r.id);
    } else {
      plan.stop.push_back(r.id);
    }
  }
  return plan;
}


} // namespace actorserve::detail
