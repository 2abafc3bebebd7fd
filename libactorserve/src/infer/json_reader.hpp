/// @file
/// Reads a v2 body's JSON in one SAX pass: everything but the tensors'
/// `data` becomes a small nlohmann DOM; each tensor's `data` (under
/// `inputs[i]` of a request, `outputs[i]` of a response) becomes a tape of
/// 16-byte tokens with its strings in one text buffer, so a tensor of N
/// elements costs no allocation per element and no DOM node per element.
/// In the DOM the `data` stands as a binary value (which JSON text cannot
/// make) whose subtype is the tape's index.
///
/// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace actorserve::detail {

/// One value of a tensor's `data`.
struct data_token {
  enum class kind : uint8_t {
    array,    // `value`: how many elements it has; they follow it
    boolean,  // `value`: 0 or 1
    integer,  // `value`: an int64's bits
    unsigned_integer,
    floating, // `value`: a double's bits
    string,   // `value`: its offset in the tape's text; `length`: its size
    other,    // null, or an object (its contents are left out)
  };
  kind type = kind::other;
  uint32_t length = 0;
  uint64_t value = 0;
};

/// A tensor's `data`, as read.
struct data_tape {
  std::vector<data_token> tokens;
  std::string text;
};

/// The JSON part of a body: the DOM, and the tapes its `data` stand for.
struct read_json {
  nlohmann::json dom;
  std::vector<data_tape> tapes;
};

/// Parses `x` (a JSON text nesting at most `max_json_depth` deep) with the
/// `data` of the objects in the top-level array `tensors` ("inputs",
/// "outputs") on tapes. False when it is not valid JSON.
bool read_json_text(std::string_view x, std::string_view tensors,
                    read_json& out);

} // namespace actorserve::detail
