/// @file
/// What the admin API checks before any route (private to the library):
/// the declared body size, the `Host` header (no DNS rebinding) and the
/// bearer token. See src/ops/host_check.hpp for the rules.
#pragma once

#include <restinio/all.hpp>

#include "actorserve/serve.hpp"

namespace actorserve::detail {

/// Answers `req` when it may not go further (413 with `Connection: close`,
/// 403 or 401 with `WWW-Authenticate: Bearer`, each with a JSON error
/// body) and returns false; true when it may.
bool admit_admin_request(const restinio::request_handle_t& req,
                         const admin_options& opts);

} // namespace actorserve::detail
