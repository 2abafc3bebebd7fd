#include "ingress/admin_access.hpp"

#include <string>

#include "ops/host_check.hpp"
#include "base/text.hpp"
#include "actorserve/error.hpp"
#include "ingress/body_limit.hpp"
#include "ingress/http_server.hpp"

namespace actorserve::detail {

namespace {

void refuse(const restinio::request_handle_t& req, errc code,
            const std::string& message, bool close = false,
            bool challenge = false) {
  auto status = http_status_of(code);
  auto resp = req->create_response(restinio::http_status_line_t{
      restinio::http_status_code_t{status}, reason_phrase(status)});
  resp.append_header(restinio::http_field::content_type, "application/json");
  if (challenge)
    resp.append_header("WWW-Authenticate", "Bearer");
  if (close)
    resp.connection_close();
  resp.set_body(dump_json({{"error", message}, {"code", to_string(code)}}));
  resp.done();
}

} // namespace

bool admit_admin_request(const restinio::request_handle_t& req,
                         const admin_options& opts) {
  auto& hdr = req->header();
  // First: a body skipped for its size leaves the connection unusable, so
  // this answer closes it, whatever else is wrong.
  if (declared_body_over(*req, opts.max_body_bytes)) {
    refuse(req, errc::payload_too_large,
           "the body is declared with more bytes than the limit of " +
               std::to_string(opts.max_body_bytes),
           true);
    return false;
  }
  if (!host_header_allowed(hdr.get_field_or("Host", ""), opts.host)) {
    refuse(req, errc::forbidden,
           "the Host header does not name this admin API's address");
    return false;
  }
  if (!opts.token.empty() &&
      !bearer_matches(hdr.get_field_or("Authorization", ""), opts.token)) {
    refuse(req, errc::unauthenticated,
           "this admin API needs 'Authorization: Bearer <token>' (the "
           "--admin-token-file token)",
           false, true);
    return false;
  }
  return true;
}

} // namespace actorserve::detail
