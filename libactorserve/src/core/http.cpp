#include "actorserve/http.hpp"

#include <algorithm>
#include <cctype>

namespace actorserve {

namespace {

bool iequals(const std::string& x, const std::string& y) {
  return x.size() == y.size() &&
         std::equal(x.begin(), x.end(), y.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> result;
  size_t pos = 0;
  while (pos < path.size()) {
    auto next = path.find('/', pos);
    if (next == std::string::npos)
      next = path.size();
    if (next > pos)
      result.emplace_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return result;
}

} // namespace

std::string find_value(const string_pairs& xs, const std::string& name,
                       const std::string& fallback, bool ignore_case) {
  for (auto& kvp : xs)
    if (ignore_case ? iequals(kvp.first, name) : kvp.first == name)
      return kvp.second;
  return fallback;
}

http_routes::http_routes() : state_(std::make_shared<state>()) {}

http_routes& http_routes::route(std::string method, const std::string& pattern,
                                route_handler handler) {
  state_->entries.push_back(
      entry{std::move(method), split_path(pattern), std::move(handler)});
  return *this;
}

reply http_routes::dispatch(http_request& req) const {
  return dispatch(*state_, req);
}

reply http_routes::dispatch(const state& st, http_request& req) {
  auto segments = split_path(req.path);
  bool path_matched = false;
  for (auto& e : st.entries) {
    if (e.segments.size() != segments.size())
      continue;
    string_pairs params;
    bool ok = true;
    for (size_t i = 0; ok && i < segments.size(); ++i) {
      auto& pat = e.segments[i];
      if (!pat.empty() && pat[0] == ':')
        params.emplace_back(pat.substr(1), segments[i]);
      else
        ok = pat == segments[i];
    }
    if (!ok)
      continue;
    path_matched = true;
    if (e.method != req.method)
      continue;
    req.params = std::move(params);
    return e.handler(req);
  }
  if (path_matched)
    return make_error(errc::method_not_allowed,
                      "method " + req.method + " is not allowed here");
  return make_error(errc::not_found, "no route for " + req.full_path);
}

nlohmann::json parse_json(const http_request& req) {
  auto result = nlohmann::json::parse(req.body, nullptr, false);
  if (result.is_discarded())
    throw error_exception(errc::bad_request, "the body is not valid JSON");
  return result;
}

http_response json_response(const nlohmann::json& body, uint16_t status) {
  http_response result;
  result.status = status;
  result.body = body.dump();
  return result;
}

} // namespace actorserve
