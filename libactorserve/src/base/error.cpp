#include "actorserve/error.hpp"

#include <caf/make_message.hpp>
#include <caf/sec.hpp>

namespace actorserve {

const char* to_string(errc x) noexcept {
  switch (x) {
  case errc::none:
    return "none";
  case errc::not_found:
    return "not_found";
  case errc::bad_request:
    return "bad_request";
  case errc::payload_too_large:
    return "payload_too_large";
  case errc::method_not_allowed:
    return "method_not_allowed";
  case errc::overloaded:
    return "overloaded";
  case errc::unavailable:
    return "unavailable";
  case errc::deadline_exceeded:
    return "deadline_exceeded";
  case errc::user_error:
    return "user_error";
  case errc::invalid_config:
    return "invalid_config";
  case errc::rejected:
    return "rejected";
  case errc::internal:
    return "internal";
  case errc::cancelled:
    return "cancelled";
  case errc::unauthenticated:
    return "unauthenticated";
  case errc::forbidden:
    return "forbidden";
  }
  return "unknown";
}

caf::error make_error(errc code, std::string message) {
  if (message.empty())
    message = to_string(code);
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::move(message))};
}

errc code_of(const caf::error& err) noexcept {
  if (!err)
    return errc::none;
  if (err.category() == error_category)
    return static_cast<errc>(err.code());
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
    case caf::sec::request_timeout:
      return errc::deadline_exceeded;
    case caf::sec::request_receiver_down:
    case caf::sec::cannot_connect_to_node:
      return errc::unavailable;
    default:
      break;
    }
  }
  return errc::user_error;
}

std::string message_of(const caf::error& err) {
  if (!err)
    return {};
  auto& ctx = err.context();
  if (err.category() == error_category && !ctx.empty() &&
      ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  if (err.category() == caf::atom("system"))
    return caf::to_string(static_cast<caf::sec>(err.code()));
  return to_string(code_of(err));
}

} // namespace actorserve
