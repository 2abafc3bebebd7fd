/// @file
/// Text that came from outside (HTTP headers, paths, model ids, config
/// files, user exception texts) made safe to echo back.
///
/// Every string a client, peer or admin sends is either checked at the entry
/// (`valid_request_id`, `valid_utf8`) or made valid before it goes into JSON
/// (`to_valid_utf8`, `dump_json`). `dump_json` never throws: it replaces
/// invalid UTF-8 with U+FFFD, so JSON output cannot end a thread.
///
/// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace actorserve::detail {

/// Whether `x` is well-formed UTF-8 (no overlong forms, no surrogates, no
/// code points past U+10FFFF).
bool valid_utf8(std::string_view x) noexcept;

/// `x` with every invalid UTF-8 sequence replaced by U+FFFD.
std::string to_valid_utf8(std::string_view x);

/// `x`, cut to at most `max_bytes` at a UTF-8 boundary (after making it
/// valid), with "..." appended when it was cut.
std::string clip_text(std::string_view x, size_t max_bytes);

/// Whether `x` is a usable request id: 1 to 128 visible ASCII characters
/// (0x21 to 0x7E). Others are replaced by a generated id.
bool valid_request_id(std::string_view x) noexcept;

/// Whether `x` can go into an HTTP header field: no CR, LF or NUL.
bool valid_header_text(std::string_view x) noexcept;

/// Whether `x` is an HTTP token (a header field name).
bool valid_header_name(std::string_view x) noexcept;

/// The deepest JSON text a parser of ours accepts: deeper documents would
/// make the recursive writers (`dump`) run out of stack.
constexpr size_t max_json_depth = 256;

/// Whether JSON text `x` nests arrays and objects deeper than `max_depth`
/// (one pass; strings and escapes are skipped, so it needs no valid JSON).
bool json_nesting_over(std::string_view x, size_t max_depth) noexcept;

/// Parses JSON text from outside: the value, or a discarded value when it
/// is not valid JSON or nests deeper than `max_json_depth`. Never throws on
/// content.
nlohmann::json parse_json_text(std::string_view x);

/// `j` as compact JSON; invalid UTF-8 in its strings becomes U+FFFD.
/// Never throws on content.
std::string dump_json(const nlohmann::json& j);

} // namespace actorserve::detail
