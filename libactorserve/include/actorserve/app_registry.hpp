/// @file
/// Application builders by name: what a config file's `import_path` names.
///
/// C++ cannot import a module by path, so a binary registers the
/// applications it can build, each a function of the config's `args`
/// (Ray Serve's application builder):
///
/// ```cpp
/// actorserve::app_registry apps;
/// apps.add("demo:classify", [](serve& s, const nlohmann::json& args) {
///   auto tok = s.deployment("Tokenizer", tokenizer)
///                  .num_replicas(args.value("tokenizers", 2)).bind();
///   return s.deployment("Classifier", classifier).bind(tok);
/// });
/// return actorserve::run_cli(argc, argv, apps);   // cli.hpp
/// ```
///
/// A builder may throw `error_exception` (a bad `args` field, say); the
/// deploy fails with its message and the application's place in the file.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include "actorserve/deployment.hpp"

namespace actorserve {

class serve;

/// A built application: the spec of its ingress deployment and everything
/// bound into it.
struct built_app {
  detail::spec_ptr ingress;
};

using app_builder =
    std::function<caf::expected<built_app>(serve&, const nlohmann::json&)>;

class app_registry {
public:
  /// Registers `f(serve&, const nlohmann::json& args)`, which returns an
  /// `app_node` (or a `caf::expected` of one), under `import_path`.
  template <class F>
  void add(std::string import_path, F f) {
    builders_[std::move(import_path)] =
        [f = std::move(f)](
            serve& s, const nlohmann::json& args) -> caf::expected<built_app> {
      return to_built(f(s, args));
    };
  }

  /// The builder registered under `import_path`, or null.
  const app_builder* find(const std::string& import_path) const {
    auto i = builders_.find(import_path);
    return i == builders_.end() ? nullptr : &i->second;
  }

  /// Every registered name, sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (auto& kvp : builders_)
      out.push_back(kvp.first);
    return out;
  }

private:
  template <class Interface>
  static caf::expected<built_app> to_built(const app_node<Interface>& node) {
    return built_app{node.spec()};
  }

  template <class Interface>
  static caf::expected<built_app>
  to_built(caf::expected<app_node<Interface>> node) {
    if (!node)
      return std::move(node.error());
    return built_app{node->spec()};
  }

  std::map<std::string, app_builder> builders_;
};

} // namespace actorserve
