/// @file
/// A tensor's JSON `data`: flat or nested row major, each element checked
/// against the datatype (integers exactly in range, BOOL as true or false,
/// BYTES as strings, FP as finite numbers in the type's range), written
/// into the tensor's wire layout in one pass.
///
/// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <caf/error.hpp>

#include "actorserve/tensor.hpp"
#include "infer/json_reader.hpp"
#include "infer/v2_data.hpp"

namespace actorserve::detail {

/// Reads `data` for `head` into `out` (which it sizes: the caller has
/// checked that `head.count` elements fit the body).
caf::error read_json_data(const data_tape& data, const tensor_head& head,
                          std::vector<std::byte>& out);

/// Whether JSON can carry `t` exactly: finite floats, UTF-8 strings.
bool json_can_carry(const tensor& t);

/// Appends `t`'s elements to `out` as a flat JSON array.
void write_json_data(std::string& out, const tensor& t);

/// Appends `x` as a JSON string (`x` must be valid UTF-8).
void write_json_string(std::string& out, std::string_view x);

/// Appends `x` so that it parses back as the same double (-0 included).
void write_json_double(std::string& out, double x);

} // namespace actorserve::detail
