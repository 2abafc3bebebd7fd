#include "ingress/http_server.hpp"

namespace actorserve::detail {

uint16_t http_status_of(errc code) noexcept {
  switch (code) {
  case errc::none:
    return 200;
  case errc::not_found:
    return 404;
  case errc::bad_request:
    return 400;
  case errc::payload_too_large:
    return 413;
  case errc::method_not_allowed:
    return 405;
  case errc::overloaded:
  case errc::unavailable:
  case errc::rejected:
    return 503;
  case errc::deadline_exceeded:
    return 408; // Ray Serve's choice for request_timeout_s
  case errc::user_error:
  case errc::invalid_config:
  case errc::internal:
    return 500;
  case errc::cancelled:
    return 499; // nginx's "client closed request"; no client reads it
  case errc::unauthenticated:
    return 401;
  case errc::forbidden:
    return 403;
  }
  return 500;
}

const char* reason_phrase(uint16_t status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 413:
    return "Payload Too Large";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  default:
    return status < 400 ? "OK" : "Error";
  }
}

} // namespace actorserve::detail
