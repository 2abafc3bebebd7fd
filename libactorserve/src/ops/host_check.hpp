/// @file
/// The admin API's access checks (private to the library): which addresses
/// are loopback, which `Host` headers a server bound to an address accepts,
/// and the bearer token.
///
/// The admin API changes deployments, so a web page the operator visits
/// must not be able to drive it: a page can make the browser send requests
/// to 127.0.0.1 under a name the attacker controls (DNS rebinding), but not
/// with a `Host` header naming 127.0.0.1 or localhost. A server bound to a
/// loopback address therefore answers only requests whose `Host` names a
/// loopback address (any port); one bound to a specific address accepts
/// that address; one bound to every address (0.0.0.0, ::) accepts any, and
/// is protected by its bearer token instead (required off loopback).
///
/// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace actorserve::detail {

/// Whether `host` is "localhost" or a literal loopback address (127.0.0.0/8,
/// ::1).
bool is_loopback_host(const std::string& host);

/// Whether a request with `Host: host_header` may reach a server bound to
/// `bind_host`. An empty or malformed header is refused.
bool host_header_allowed(std::string_view host_header,
                         const std::string& bind_host);

/// Whether `authorization` (an `Authorization` header value) is
/// `Bearer <token>`. The comparison takes the same time wherever the two
/// differ, and whatever their lengths.
bool bearer_matches(std::string_view authorization, std::string_view token);

} // namespace actorserve::detail
