// Checked reading of YAML: the document's budget (yaml_reader.hpp).
#include "ops/yaml_reader.hpp"

#include "base/text.hpp"

namespace actorserve::detail::yaml {

void check_budget(const reader& r, const YAML::Node& n, size_t depth,
                  size_t& visited, size_t max_nodes, size_t max_depth) {
  if (++visited > max_nodes)
    r.fail(n, "(document)",
           "expands to more than " + std::to_string(max_nodes) +
               " nodes (aliases counted each time they are used); the "
               "limit is max_config_nodes");
  if (depth > max_depth)
    r.fail(n, "(document)",
           "nests deeper than " + std::to_string(max_depth) +
               " levels; the limit is max_config_depth");
  if (n.IsSequence()) {
    for (auto it = n.begin(); it != n.end(); ++it)
      check_budget(r, *it, depth + 1, visited, max_nodes, max_depth);
  } else if (n.IsMap()) {
    // YAML forbids a key twice in one mapping; readers disagree on which
    // one wins, so it is refused.
    std::set<std::string> seen;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar())
        r.fail(it->first, "(document)", "mapping keys must be scalars");
      if (!seen.insert(it->first.Scalar()).second)
        r.fail(it->first, "(document)",
               "key '" + clip_text(it->first.Scalar(), 64) +
                   "' appears twice in one mapping");
      check_budget(r, it->first, depth + 1, visited, max_nodes, max_depth);
      check_budget(r, it->second, depth + 1, visited, max_nodes, max_depth);
    }
  }
}

} // namespace actorserve::detail::yaml
