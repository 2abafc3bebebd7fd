#include "actorserve/placement.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actorserve/error.hpp"
#include "base/text.hpp"

namespace actorserve {

namespace {

// Resources are sums of fractions: compare with a little slack.
constexpr double slack = 1e-9;

double amount(const resource_set& x, const std::string& name) {
  auto i = x.custom.find(name);
  return i == x.custom.end() ? 0 : i->second;
}

std::string number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

} // namespace

bool operator==(const resource_set& x, const resource_set& y) {
  return x.num_cpus == y.num_cpus && x.custom == y.custom;
}

bool fits(const resource_set& need, const resource_set& available) {
  if (need.num_cpus > available.num_cpus + slack)
    return false;
  return std::all_of(need.custom.begin(), need.custom.end(),
                     [&](const auto& kv) {
                       return kv.second <= amount(available, kv.first) + slack;
                     });
}

resource_set combine(const resource_set& x, const resource_set& y,
                     double times) {
  auto out = x;
  out.num_cpus += times * y.num_cpus;
  for (auto& [name, n] : y.custom)
    out.custom[name] += times * n;
  return out;
}

resource_set unbounded_cpus() {
  return resource_set{std::numeric_limits<double>::infinity(), {}};
}

double default_memory_budget() noexcept {
  auto pages = ::sysconf(_SC_PHYS_PAGES);
  auto size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || size <= 0)
    return 1024.0 * 1024 * 1024; // unknown: 1 GiB
  return static_cast<double>(pages) * static_cast<double>(size) / 4;
}

resource_set with_memory(resource_set offered, double memory_bytes) {
  if (memory_bytes > 0)
    offered.custom[memory_resource] = memory_bytes;
  else if (offered.custom.count(memory_resource) == 0)
    offered.custom[memory_resource] = default_memory_budget();
  return offered;
}

std::string to_string(const resource_set& x) {
  std::string out;
  auto add = [&](const std::string& name, double n) {
    if (n == 0)
      return;
    if (!out.empty())
      out += ", ";
    out += name + "=" + number(n);
  };
  add("num_cpus", x.num_cpus);
  for (auto& [name, n] : x.custom)
    add(name, n);
  return out.empty() ? "nothing" : out;
}

caf::error parse_resources(const std::string& json_text,
                           const std::string& field,
                           std::map<std::string, double>& out) {
  auto fail = [&](const std::string& why) {
    return make_error(errc::invalid_config, field + ": " + why);
  };
  auto j = detail::parse_json_text(json_text);
  if (!j.is_object())
    return fail("expected a JSON object of numbers, e.g. {\"accel\": 1} "
                "(got '" +
                json_text + "')");
  std::map<std::string, double> parsed;
  for (auto& [name, value] : j.items()) {
    if (name.empty())
      return fail("a resource needs a name");
    if (!value.is_number() || value.get<double>() < 0 ||
        !std::isfinite(value.get<double>()))
      return fail("resource '" + name + "' must be a number >= 0");
    parsed[name] = value.get<double>();
  }
  out = std::move(parsed);
  return {};
}

placement place(const placement_request& req,
                const std::vector<node_view>& nodes) {
  const node_view* best = nullptr;
  size_t alive = 0;
  size_t registered = 0;
  size_t under_cap = 0;
  // Nodes that have room but whose binaries lack the deployment.
  std::string lacking;
  for (auto& n : nodes) {
    if (!n.alive)
      continue;
    ++alive;
    if (!n.has_deployment) {
      if (fits(req.needs, n.free))
        lacking += (lacking.empty() ? "" : ", ") + std::to_string(n.id);
      continue;
    }
    ++registered;
    if (req.max_replicas_per_node && n.replicas >= *req.max_replicas_per_node)
      continue;
    ++under_cap;
    if (!fits(req.needs, n.free))
      continue;
    auto better = [&] {
      if (n.replicas != best->replicas)
        return n.replicas < best->replicas;
      if (n.free.num_cpus != best->free.num_cpus)
        return n.free.num_cpus > best->free.num_cpus;
      return n.id < best->id;
    };
    if (!best || better())
      best = &n;
  }
  if (best)
    return {best->id, {}};
  placement out;
  if (alive == 0)
    out.reason = "no node is alive";
  else if (registered == 0)
    out.reason =
        "no alive node's binary registers deployment '" + req.deployment + "'";
  else if (under_cap == 0)
    out.reason = "every node already runs max_replicas_per_node=" +
                 std::to_string(*req.max_replicas_per_node) + " replicas of '" +
                 req.deployment + "'";
  else
    out.reason = "no node has the resources free (each replica needs " +
                 to_string(req.needs) + ")";
  if (registered > 0 && !lacking.empty())
    out.reason += "; node(s) " + lacking +
                  " have room, but their binaries do not register '" +
                  req.deployment + "'";
  return out;
}

void commit(const placement_request& req, uint64_t node,
            std::vector<node_view>& nodes) {
  for (auto& n : nodes)
    if (n.id == node) {
      n.free = combine(n.free, req.needs, -1);
      ++n.replicas;
    }
}

} // namespace actorserve
