/// @file
/// The one error vocabulary of actorserve.
///
/// Errors are values: every failure inside the system travels as a
/// `caf::error` whose category is `error_category` and whose code is an
/// `errc`. No exception crosses an actor boundary. The HTTP ingress maps these
/// codes to status codes in exactly one place (`http_status_of` in
/// src/ingress/error_mapping.cpp).
///
/// ```cpp
/// return actorserve::make_error(actorserve::errc::bad_request,
///                               "field 'text' must be a string");
/// ```
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>

namespace actorserve {

/// The category atom of every actorserve error.
constexpr caf::atom_value error_category = caf::atom("actorserve");

/// Error codes. Each enumerator says what a caller should do about it.
enum class errc : uint8_t {
  /// Not an error.
  none = 0,
  /// No application or route matches the request. Do not retry.
  not_found,
  /// The request body is not valid JSON or has the wrong shape. Fix the
  /// request; do not retry it unchanged.
  bad_request,
  /// The request body exceeds the configured limit. Do not retry unchanged.
  payload_too_large,
  /// The route exists but not for this HTTP method. Do not retry.
  method_not_allowed,
  /// The deployment's queue is full (`max_queued_requests`). Retry after a
  /// backoff; the HTTP answer carries `Retry-After`.
  overloaded,
  /// No replica can take the request (none exist, or the system is shutting
  /// down). Retry later, possibly against another instance.
  unavailable,
  /// The request's deadline passed before it completed. Retry only if the
  /// operation is idempotent, and with a longer deadline.
  deadline_exceeded,
  /// User code threw or returned an error; the message is kept. Retry only if
  /// the cause is known to be transient. The replica lives on.
  user_error,
  /// A configuration value is invalid; the message names the field. Fix the
  /// configuration. Raised at start-up, never per request.
  invalid_config,
  /// Internal: a replica was at `max_ongoing_requests` and refused the call.
  /// Routers retry another replica; callers never see this code.
  rejected,
  /// The framework could not complete the request: for example, a handler
  /// ended without answering (it dropped its response promise). A bug in
  /// the application or the framework; the message says which request.
  internal,
  /// The caller cancelled the request (an HTTP client disconnected, or a
  /// caller cancelled its call): it was dropped before it ran, or stopped.
  /// Nobody is waiting for the answer; HTTP logs it as 499.
  cancelled,
  /// The peer did not present valid credentials (a node joining with a
  /// wrong or missing cluster token). Fix the credentials; retrying as is
  /// fails again.
  unauthenticated,
  /// The request is not allowed from where it came (an admin request whose
  /// `Host` header does not name the admin API's address: a web page
  /// trying to reach it through DNS rebinding). Do not retry.
  forbidden,
};

/// Returns the enumerator's name, e.g. "overloaded".
const char* to_string(errc x) noexcept;

/// Creates an actorserve error carrying a human-readable message.
caf::error make_error(errc code, std::string message = {});

/// Returns the actorserve code of `err`. CAF system errors are translated:
/// a request timeout becomes `deadline_exceeded`, a dead receiver becomes
/// `unavailable`; anything else unknown becomes `user_error`.
errc code_of(const caf::error& err) noexcept;

/// Returns the human-readable message stored in `err`, or a description of
/// the code when there is none.
std::string message_of(const caf::error& err);

/// An exception that user code may throw to fail a request with a specific
/// code (for example `bad_request` when the body has the wrong shape). The
/// replica turns it into an error value; any other `std::exception` becomes
/// `user_error`.
class error_exception : public std::runtime_error {
public:
  error_exception(errc code, const std::string& message)
      : std::runtime_error(message), code_(code) {}

  errc code() const noexcept { return code_; }

private:
  errc code_;
};

} // namespace actorserve
