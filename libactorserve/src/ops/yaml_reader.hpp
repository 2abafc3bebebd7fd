/// @file
/// Checked reading of YAML (private to the library): typed values with
/// their ranges, known keys only, and every error naming its file, line
/// and path (`bad_config`); and the budget a document must fit in before
/// it is read at all. The config file's schema (deploy_config.cpp) reads
/// through it.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

namespace actorserve::detail::yaml {

using json = nlohmann::json;

struct bad_config {
  std::string message;
};

class reader {
public:
  explicit reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& path,
                         const std::string& what) const {
    fail(at.Mark(), path, what);
  }

  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& path,
                         const std::string& what) const {
    auto line = mark.line >= 0 ? mark.line + 1 : 0;
    throw bad_config{file_ + ":" + std::to_string(line) + ": " + path + ": " +
                     what};
  }

  /// A map whose keys are all in `known`; fails at the first other key.
  void keys(const YAML::Node& n, const std::string& path,
            const std::set<std::string>& known) const {
    if (!n.IsMap())
      fail(n, path, "must be a mapping");
    for (auto it = n.begin(); it != n.end(); ++it) {
      auto key = it->first.Scalar();
      if (known.count(key) == 0) {
        std::string list;
        for (auto& k : known)
          list += (list.empty() ? "" : ", ") + k;
        fail(it->first, join(path, key),
             "is not a known field (known: " + list + ")");
      }
    }
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  std::string text(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar())
      fail(n, path, "must be a string");
    return n.Scalar();
  }

  int64_t integer(const YAML::Node& n, const std::string& path, int64_t min,
                  int64_t max) const {
    int64_t x = 0;
    if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, x) || x < min ||
        x > max)
      fail(n, path,
           "must be an integer between " + std::to_string(min) + " and " +
               std::to_string(max) + scalar_note(n));
    return x;
  }

  double number(const YAML::Node& n, const std::string& path, double min,
                double max) const {
    double x = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, x) ||
        !std::isfinite(x) || x < min || x > max) {
      std::ostringstream range;
      range << "must be a number between " << min << " and " << max;
      fail(n, path, range.str() + scalar_note(n));
    }
    return x;
  }

  std::chrono::milliseconds seconds(const YAML::Node& n,
                                    const std::string& path) const {
    return std::chrono::milliseconds{
        std::llround(number(n, path, 0, 86'400) * 1000)};
  }

  bool boolean(const YAML::Node& n, const std::string& path) const {
    bool b = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b))
      fail(n, path, "must be true or false" + scalar_note(n));
    return b;
  }

  std::string choice(const YAML::Node& n, const std::string& path,
                     const std::set<std::string>& options) const {
    auto s = text(n, path);
    if (options.count(s) == 0) {
      std::string list;
      for (auto& o : options)
        list += (list.empty() ? "" : ", ") + o;
      fail(n, path, "must be one of " + list + " (got '" + s + "')");
    }
    return s;
  }

  /// Any YAML value as JSON: plain scalars become numbers, booleans or
  /// null where they read as one, quoted ones stay strings.
  static json to_json(const YAML::Node& n) {
    switch (n.Type()) {
    case YAML::NodeType::Map: {
      auto obj = json::object();
      for (auto it = n.begin(); it != n.end(); ++it)
        obj[it->first.Scalar()] = to_json(it->second);
      return obj;
    }
    case YAML::NodeType::Sequence: {
      auto arr = json::array();
      for (auto& x : n)
        arr.push_back(to_json(x));
      return arr;
    }
    case YAML::NodeType::Scalar: {
      if (n.Tag() == "!")
        return n.Scalar(); // quoted
      int64_t i = 0;
      double d = 0;
      bool b = false;
      if (YAML::convert<int64_t>::decode(n, i))
        return i;
      if (YAML::convert<double>::decode(n, d) && std::isfinite(d))
        return d;
      if (YAML::convert<bool>::decode(n, b))
        return b;
      auto& s = n.Scalar();
      if (s == "~" || s == "null" || s == "Null" || s == "NULL")
        return nullptr;
      return s;
    }
    default:
      return nullptr;
    }
  }

private:
  static std::string scalar_note(const YAML::Node& n) {
    return n.IsScalar() ? " (got '" + n.Scalar() + "')" : std::string{};
  }

  std::string file_;
};

/// Visits the document as the reader will, aliases expanded, and fails
/// once it holds more than `max_nodes` nodes or nests deeper than
/// `max_depth`: a few lines of nested aliases (a "billion laughs") would
/// otherwise expand into gigabytes. The walk stops at the budget, so it
/// costs at most that many steps. A key twice in one mapping fails too.
void check_budget(const reader& r, const YAML::Node& n, size_t depth,
                  size_t& visited, size_t max_nodes, size_t max_depth);

} // namespace actorserve::detail::yaml
