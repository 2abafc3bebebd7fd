/// @file
/// Picks the state store's backend from the options, and reads the Redis
/// store's URL.
#include <cctype>

#include "actorserve/error.hpp"
#include "store/state_store.hpp"

namespace actorserve::detail {

namespace {

caf::error bad_url(const std::string& url, const std::string& why) {
  return make_error(errc::invalid_config,
                    "--state-store '" + url
                        + "': " + why + " (expected redis://HOST:PORT/KEYPREFIX)");
}

bool prefix_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'
         || c == '.' || c == ':' || c == '-';
}

bool host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.'
         || c == '-' || c == '_';
}

} // namespace

caf::expected<redis_url> parse_redis_url(const std::string& url) {
  const std::string scheme = "redis://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    return bad_url(url, "not a redis:// URL");
  auto rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  if (slash == std::string::npos)
    return bad_url(url, "no key prefix");
  auto authority = rest.substr(0, slash);
  redis_url result;
  result.prefix = rest.substr(slash + 1);
  auto colon = authority.rfind(':');
  if (colon == std::string::npos)
    return bad_url(url, "no port");
  result.host = authority.substr(0, colon);
  auto port = authority.substr(colon + 1);
  if (result.host.empty())
    return bad_url(url, "no host");
  for (char c : result.host)
    if (!host_char(c))
      return bad_url(url, "a bad host");
  if (port.empty() || port.size() > 5)
    return bad_url(url, "a bad port");
  unsigned long n = 0;
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return bad_url(url, "a bad port");
    n = n * 10 + static_cast<unsigned long>(c - '0');
  }
  if (n == 0 || n > 65535)
    return bad_url(url, "a port out of range");
  result.port = static_cast<uint16_t>(n);
  if (result.prefix.empty())
    return bad_url(url, "an empty key prefix");
  for (char c : result.prefix)
    if (!prefix_char(c))
      return bad_url(url, "a bad key prefix (letters, digits and _.:- only)");
  return result;
}

caf::expected<store_ptr> open_state_store(const std::string& dir,
                                          const std::string& url,
                                          const std::string& password,
                                          std::chrono::milliseconds timeout) {
  if (!dir.empty() && !url.empty())
    return make_error(errc::invalid_config,
                      "--state-dir and --state-store: choose one");
  if (timeout.count() <= 0)
    return make_error(errc::invalid_config,
                      "--state-store-timeout-ms: must be positive");
  if (!dir.empty())
    return open_sqlite_store(dir, timeout);
  if (url.empty())
    return make_error(errc::invalid_config,
                      "no state store: give --state-dir or --state-store");
  auto parsed = parse_redis_url(url);
  if (!parsed)
    return parsed.error();
  return open_redis_store(*parsed, password, timeout);
}

} // namespace actorserve::detail
