// The head's state store as a restarted head reads it back (the records of
// control/controller_store.hpp, from a SQLite file or a Redis another
// process may have written). Whatever the bytes, decoding fails cleanly or
// gives records that encode and decode again the same, with no number that
// is not finite (CAF 0.17.6 would never finish writing one), and the
// adoption decision over what was read keeps its promises.
#include <map>
#include <set>
#include <string>

#include "check.hpp"
#include "control/controller_store.hpp"

using namespace actorserve;
using namespace actorserve::detail;

namespace {

/// The keys a record may come under, picked by the input's first byte of
/// each entry.
std::string key_of(uint8_t kind, const std::string& name) {
  switch (kind % 5) {
    case 0:
      return meta_key;
    case 1:
      return nodes_key;
    case 2:
      return app_key(name);
    case 3:
      return deployment_key("app", name);
    default:
      return "v1/serve/" + name; // serve's own: ignored by the controller
  }
}

void check_deployment(const std::string& key, const stored_deployment& d) {
  auto once = encode_record(d);
  fuzz::require(!once.empty(), "a decoded deployment encodes again");
  store_setup again;
  std::string why;
  fuzz::require(decode_state({{"v1/dep/" + key, once}}, again, why),
                "what was encoded decodes");
  fuzz::require(encode_record(again.deployments.at(key)) == once,
                "a deployment round-trips unchanged");
  fuzz::require(same_config(d.base, d.base), "a config is the same as itself");
  // Adoption over the replicas read back: only stored ids, at most the
  // target, each offer either adopted or stopped, never both.
  std::vector<hosted_replica_report> offers;
  std::vector<uint64_t> stored;
  for (auto& r : d.replicas) {
    hosted_replica_report o;
    o.id = r.id;
    o.version = r.version;
    offers.push_back(o);
    stored.push_back(r.id);
  }
  auto plan = plan_adoption(offers, stored, d.current.version, d.target, 0);
  fuzz::require(plan.adopt.size() <= d.target, "adoption stays within target");
  fuzz::require(plan.adopt.size() + plan.stop.size() == offers.size(),
                "every offer is adopted or stopped");
  std::set<uint64_t> adopted{plan.adopt.begin(), plan.adopt.end()};
  fuzz::require(adopted.size() == plan.adopt.size(), "no id adopted twice");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::input in{data, size};
  std::map<std::string, std::string> kv;
  // Entries: a kind byte, a name up to 0xFF, a two-byte length, the value.
  while (!in.empty() && kv.size() < 16) {
    auto kind = in.byte();
    auto name = in.field();
    size_t n = in.byte();
    n = n << 8 | in.byte();
    std::string value;
    for (size_t i = 0; i < n && !in.empty(); ++i)
      value.push_back(static_cast<char>(in.byte()));
    kv[key_of(kind, name)] = std::move(value);
  }
  store_setup out;
  std::string why;
  decode_state(kv, out, why); // unreadable records are skipped and named
  for (auto& [key, dep] : out.deployments)
    check_deployment(key, dep);
  for (auto& [name, app] : out.apps)
    fuzz::require(!encode_record(app).empty(), "a decoded app encodes again");
  fuzz::require(!encode_record(out.nodes).empty() || out.nodes.empty(),
                "decoded nodes encode again");
  fuzz::require(!encode_record(out.meta).empty(), "the meta record encodes");
  return 0;
}
