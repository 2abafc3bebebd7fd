/// @file
/// What the codec needs of a tensor beyond its public API: building one from
/// parts it has already checked, and the BYTES wire layout (each element a
/// 4-byte little-endian length, then its bytes).
///
/// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actorserve/tensor.hpp"

namespace actorserve::detail {

struct tensor_access {
  /// A tensor of parts the caller checked: `count` is the shape's element
  /// count and `data` holds exactly that many elements of `type`.
  static tensor make(std::string name, datatype type,
                     std::vector<int64_t> shape, size_t count,
                     std::vector<std::byte> data);

  static std::vector<std::byte>& data(tensor& t) noexcept { return t.data_; }
};

/// Appends one BYTES element (its length, then its bytes) to `out`.
void append_bytes_element(std::vector<std::byte>& out, std::string_view x);

/// Whether `data` is exactly `count` BYTES elements, every length prefix
/// and element inside it.
bool valid_bytes_data(const std::byte* data, size_t size,
                      size_t count) noexcept;

/// The byte offsets where each of the `count` elements of valid BYTES data
/// start, and one past the end (`count + 1` offsets).
std::vector<size_t> bytes_offsets(const std::byte* data, size_t count);

/// The 4-byte little-endian length at `p`.
inline uint32_t read_u32le(const std::byte* p) noexcept {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

} // namespace actorserve::detail
