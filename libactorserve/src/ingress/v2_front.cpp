/// @file
/// The Open Inference Protocol's server-level REST endpoints on the HTTP
/// port: `GET /v2` (server metadata), `/v2/health/live` and
/// `/v2/health/ready`, as Triton and KServe answer them, so that their
/// clients' `is_server_live` and `is_server_ready` work against us.
#include <string>

#include "infer/v2.hpp"
#include "ingress/shard.hpp"

namespace actorserve::detail {

namespace {

/// The protocol extensions this server speaks.
const std::vector<std::string>& extensions() {
  static const std::vector<std::string> xs{"binary_tensor_data",
                                           "parameters"};
  return xs;
}

bool is_v2_server_path(restinio::string_view_t path) {
  return path == "/v2" || path == "/v2/" || path == "/v2/health/live" ||
         path == "/v2/health/ready";
}

} // namespace

bool ingress_shard::v2_server(const restinio::request_handle_t& req,
                              const std::string& rid,
                              restinio::string_view_t path,
                              const route_entry* match) {
  // An application routed at a prefix of its own keeps these paths; one at
  // "/" (every path) does not.
  if ((match != nullptr && match->prefix != "/") || !is_v2_server_path(path))
    return false;
  if (req->header().method() != restinio::http_method_get()) {
    respond_error(req, rid, errc::method_not_allowed,
                  "the protocol's " + std::string{path} + " takes GET",
                  "GET");
    return true;
  }
  if (path == "/v2/health/live") {
    respond(req, rid, 200, "application/json", {}, R"({"live":true})");
  } else if (path == "/v2/health/ready") {
    // Ready as /-/healthz is: the controller answers within 1 s. While the
    // server drains, `reject_front` answers 503 before this is reached.
    ask_controller(req, rid, pending_kind::v2_ready, health_timeout,
                   "the system plane did not answer within 1 s",
                   caf::make_message(health_atom::value));
  } else {
    respond(req, rid, 200, "application/json", {},
            encode_server_metadata("actorserve", ACTORSERVE_VERSION_TEXT,
                                   extensions()));
  }
  return true;
}

} // namespace actorserve::detail
