#include "ops/host_check.hpp"

#include <algorithm>

#include <arpa/inet.h>
#include <netinet/in.h>

namespace actorserve::detail {

namespace {

/// The host part of a `Host` header value: "[::1]:8265" -> "::1",
/// "localhost:80" -> "localhost"; empty when malformed.
std::string host_part(std::string_view header) {
  if (header.empty())
    return {};
  std::string_view host;
  std::string_view rest;
  if (header.front() == '[') {
    auto close = header.find(']');
    if (close == std::string_view::npos)
      return {};
    host = header.substr(1, close - 1);
    rest = header.substr(close + 1);
  } else {
    auto colon = header.find(':');
    host = header.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{}
                                           : header.substr(colon);
  }
  if (!rest.empty()) {
    if (rest.front() != ':' || rest.size() < 2 || rest.size() > 6)
      return {};
    for (char c : rest.substr(1))
      if (c < '0' || c > '9')
        return {};
  }
  std::string out;
  for (char c : host) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F)
      return {};
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  if (!out.empty() && out.back() == '.')
    out.pop_back(); // "localhost." names the same host
  return out;
}

bool is_wildcard(const std::string& host) {
  return host == "0.0.0.0" || host == "::" || host == "[::]";
}

} // namespace

bool is_loopback_host(const std::string& host) {
  if (host == "localhost")
    return true;
  in_addr a4{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1)
    return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  if (inet_pton(AF_INET6, host.c_str(), &a6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&a6) != 0;
  return false;
}

bool host_header_allowed(std::string_view host_header,
                         const std::string& bind_host) {
  auto host = host_part(host_header);
  if (host.empty())
    return false;
  if (is_wildcard(bind_host))
    return true;
  if (is_loopback_host(bind_host))
    return is_loopback_host(host);
  return host == host_part(bind_host) || host == bind_host;
}

bool bearer_matches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() < scheme.size() || token.empty())
    return false;
  unsigned diff = 0;
  for (size_t i = 0; i < scheme.size(); ++i) {
    auto c = authorization[i];
    auto lower = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    auto want = scheme[i];
    auto want_lower =
        want >= 'A' && want <= 'Z' ? static_cast<char>(want - 'A' + 'a') : want;
    diff |= static_cast<unsigned>(lower ^ want_lower);
  }
  auto given = authorization.substr(scheme.size());
  // Every byte of the longer of the two is read, and the lengths are
  // compared as data, so the time says nothing about where they differ.
  auto n = std::max(given.size(), token.size());
  diff |= static_cast<unsigned>(given.size() ^ token.size());
  for (size_t i = 0; i < n; ++i) {
    auto a = i < given.size() ? static_cast<unsigned char>(given[i]) : 0u;
    auto b = i < token.size() ? static_cast<unsigned char>(token[i]) : 0u;
    diff |= a ^ b;
  }
  return diff == 0;
}

} // namespace actorserve::detail
