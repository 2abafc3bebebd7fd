#include "actorserve/http.hpp"
#include "base/text.hpp"

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

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
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
  std::string allowed; // methods the path has, for 405's Allow header
  for (auto& e : st.entries) {
    if (e.segments.size() != segments.size())
      continue;
    bool ok = true;
    for (size_t i = 0; ok && i < segments.size(); ++i) {
      auto& pat = e.segments[i];
      ok = (!pat.empty() && pat[0] == ':') || pat == segments[i];
    }
    if (!ok)
      continue;
    if (e.method != req.method) {
      if (allowed.find(e.method) == std::string::npos)
        allowed += (allowed.empty() ? "" : ", ") + e.method;
      continue;
    }
    // The route and method match: its parameters are decoded now. A
    // parameter goes into JSON, status and logs, so it must be text.
    string_pairs params;
    for (size_t i = 0; i < segments.size(); ++i) {
      auto& pat = e.segments[i];
      if (pat.empty() || pat[0] != ':')
        continue;
      auto value = url_decode(segments[i]);
      if (!detail::valid_utf8(value))
        return make_error(errc::bad_request,
                          "path parameter '" + pat.substr(1) +
                              "' is not valid UTF-8 once decoded");
      params.emplace_back(pat.substr(1), std::move(value));
    }
    req.params = std::move(params);
    return e.handler(req);
  }
  if (!allowed.empty())
    return method_not_allowed("method " + req.method +
                                  " is not allowed here; allowed: " + allowed,
                              allowed);
  return make_error(errc::not_found, "no route for " + req.full_path);
}

std::string url_decode(const std::string& x) {
  std::string result;
  result.reserve(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] == '%' && i + 2 < x.size()) {
      auto hi = hex_value(x[i + 1]);
      auto lo = hex_value(x[i + 2]);
      if (hi >= 0 && lo >= 0) {
        result.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    result.push_back(x[i]);
  }
  return result;
}

caf::error method_not_allowed(std::string message, std::string allowed) {
  return caf::error{static_cast<uint8_t>(errc::method_not_allowed),
                    error_category,
                    caf::make_message(std::move(message), std::move(allowed))};
}

std::string allowed_methods(const caf::error& err) {
  auto& ctx = err.context();
  if (code_of(err) == errc::method_not_allowed && ctx.size() == 2 &&
      ctx.match_element<std::string>(1))
    return ctx.get_as<std::string>(1);
  return {};
}

nlohmann::json parse_json(const http_request& req) {
  auto result = detail::parse_json_text(req.body);
  if (result.is_discarded())
    throw error_exception(errc::bad_request,
                          "the body is not valid JSON (or nests deeper than " +
                              std::to_string(detail::max_json_depth) +
                              " levels)");
  return result;
}

http_response json_response(const nlohmann::json& body, uint16_t status) {
  http_response result;
  result.status = status;
  result.body = detail::dump_json(body);
  return result;
}

} // namespace actorserve
