/// @file
/// A body over the limit is answered with 413 before it is read (private to
/// the library; include it before any RESTinio server is instantiated).
///
/// RESTinio 0.6 checks `Content-Length` against its `max_body_size` as soon
/// as the headers are parsed, and closes the connection without an answer
/// when it is over. Our servers' traits name `early_413_methods` as their
/// HTTP method mapper, and RESTinio builds its parser callbacks per mapper,
/// so the specialization below replaces that one check: the parser skips the
/// body instead (the request completes with an empty body), the handler sees
/// `declared_body_over(req, limit)` and answers 413 with a JSON body and
/// `Connection: close`, and the connection reads nothing more. No byte of
/// the body is buffered. A chunked body over the limit is still cut by
/// RESTinio (it has no length up front): the connection closes.
///
/// This relies on RESTinio 0.6.16's parser context (`impl::
/// http_parser_ctx_t`), which Debian 12 ships; tests/e2e/hostile.test.cpp
/// checks the behaviour over a real socket.
#pragma once

#include <climits>
#include <cstddef>

#include <restinio/all.hpp>

namespace actorserve::detail {

/// RESTinio's method mapper, as a distinct type for the specialization.
struct early_413_methods : restinio::default_http_methods_t {};

/// Whether `req` declared a `Content-Length` over `limit` (its body was
/// skipped, so the request must be answered 413 and its connection closed).
inline bool declared_body_over(const restinio::request_t& req, size_t limit) {
  auto field = req.header().try_get_field("Content-Length");
  if (!field)
    return false;
  if (field->empty())
    return false;
  unsigned long long n = 0;
  for (char c : *field) {
    if (c < '0' || c > '9')
      return false;
    if (n > (ULLONG_MAX - 9) / 10)
      return true;
    n = n * 10 + static_cast<unsigned long long>(c - '0');
  }
  return n > limit;
}

} // namespace actorserve::detail

namespace restinio::impl {

template <>
inline http_parser_settings
create_parser_settings<actorserve::detail::early_413_methods>() noexcept {
  auto result = create_parser_settings<restinio::default_http_methods_t>();
  result.on_message_complete = [](http_parser* parser) -> int {
    return restinio_message_complete_cb<actorserve::detail::early_413_methods>(
        parser);
  };
  result.on_headers_complete = [](http_parser* parser) -> int {
    auto* ctx = reinterpret_cast<http_parser_ctx_t*>(parser->data);
    if (parser->content_length != ULLONG_MAX &&
        parser->content_length > ctx->m_limits.max_body_size()) {
      ctx->m_leading_headers_completed = true;
      return 1; // skip the body: the request completes without it
    }
    return restinio_headers_complete_cb(parser);
  };
  return result;
}

} // namespace restinio::impl
