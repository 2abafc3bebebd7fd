/// @file
/// The HTTP request and response as messages between the ingress and an
/// application's ingress deployment. Both are plain, serializable values:
/// the RESTinio connection never leaves the ingress, so these can cross nodes.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "actorserve/stream_ref.hpp"

namespace actorserve {

/// Ordered name/value pairs (headers, query parameters, path parameters).
using string_pairs = std::vector<std::pair<std::string, std::string>>;

/// Returns the first value stored under `name` (case-insensitive when
/// `ignore_case`), or `fallback`.
std::string find_value(const string_pairs& xs, const std::string& name,
                       const std::string& fallback = {},
                       bool ignore_case = false);

/// An HTTP request as the ingress hands it to an application.
struct http_request {
  /// "GET", "POST", ...
  std::string method;
  /// The path below the application's route prefix, always starting with
  /// '/' (a request for "/classify" to the app at "/classify" has path "/").
  std::string path;
  /// The full path as the client sent it, without the query string.
  std::string full_path;
  /// Decoded query parameters in order.
  string_pairs query;
  /// Header fields in order, names as sent.
  string_pairs headers;
  /// Path parameters filled in by route matching (":name" segments).
  string_pairs params;
  /// The raw body.
  std::string body;
  /// The request id, echoed in `X-Request-ID`.
  std::string request_id;

  /// Returns the header value, matching the name case-insensitively.
  std::string header(const std::string& name,
                     const std::string& fallback = {}) const {
    return find_value(headers, name, fallback, true);
  }

  /// Returns the query parameter, or `fallback`.
  std::string query_param(const std::string& name,
                          const std::string& fallback = {}) const {
    return find_value(query, name, fallback);
  }

  /// Returns the path parameter, or `fallback`.
  std::string param(const std::string& name,
                    const std::string& fallback = {}) const {
    return find_value(params, name, fallback);
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_request& x) {
  return f(x.method, x.path, x.full_path, x.query, x.headers, x.params, x.body,
           x.request_id);
}

/// How the ingress writes a response's body.
enum class body_mode : uint8_t {
  /// `body`, all at once, with a Content-Length.
  whole,
  /// Server-Sent Events from `stream`: each chunk is one `data:` event,
  /// flushed on its own; the end is `event: done`, an error `event: error`
  /// with a JSON `data:` line.
  sse,
  /// Chunked transfer from `stream`: each chunk is one HTTP chunk, flushed
  /// on its own.
  chunked,
};

/// An HTTP response produced by an application.
struct http_response {
  uint16_t status = 200;
  std::string content_type = "application/json";
  /// Extra header fields (the ingress adds Content-Type and X-Request-ID).
  string_pairs headers;
  std::string body;
  /// With `sse` or `chunked`, the body comes from `stream` (chunks of
  /// `std::string`); see `sse_response` and `chunked_response` (stream.hpp).
  body_mode mode = body_mode::whole;
  stream_ref stream;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, http_response& x) {
  return f(x.status, x.content_type, x.headers, x.body, x.mode, x.stream);
}

} // namespace actorserve
