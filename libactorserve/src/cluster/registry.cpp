// A worker node's registry of the deployments its binary registers
// (node_agent.hpp).
#include "cluster/node_agent.hpp"

namespace actorserve::detail {

namespace {

std::string key_of(const std::string& app, const std::string& deployment) {
  return app + "/" + deployment;
}

} // namespace

void node_registry::add(const std::string& app, const spec_ptr& ingress) {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<spec_ptr> todo{ingress};
  while (!todo.empty()) {
    auto spec = todo.back();
    todo.pop_back();
    if (!spec)
      continue;
    auto& e = entries_[key_of(app, spec->config.name)];
    if (e.spec)
      continue;
    e.spec = spec;
    e.ep = std::make_shared<endpoint>(app, spec->config.name,
                                      spec->config.max_ongoing_requests,
                                      spec->config.max_queued_requests);
    todo.insert(todo.end(), spec->children.begin(), spec->children.end());
  }
}

node_registry::entry node_registry::find(const std::string& app,
                                         const std::string& deployment) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(key_of(app, deployment));
  return i == entries_.end() ? entry{} : i->second;
}

std::vector<std::pair<std::string, endpoint_ptr>>
node_registry::endpoints() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<std::string, endpoint_ptr>> out;
  for (auto& kvp : entries_)
    out.emplace_back(kvp.first, kvp.second.ep);
  return out;
}

std::vector<std::string> node_registry::names() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::string> out;
  for (auto& kvp : entries_)
    out.push_back(kvp.first);
  return out;
}

} // namespace actorserve::detail
