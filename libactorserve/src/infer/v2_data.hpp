/// @file
/// The parts of a v2 body that requests and responses share: splitting the
/// body at its JSON header, a tensor's head (`name`, `datatype`, `shape`,
/// `parameters`), and its data, from JSON (`data`, flat or nested) or from
/// the binary part.
///
/// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include "actorserve/tensor.hpp"
#include "infer/json_reader.hpp"

namespace actorserve::detail {

/// A `bad_request` error with `message`.
caf::error bad_body(std::string message);

/// `shape` as "[2,3]", for an error message.
std::string shape_text(const std::vector<int64_t>& shape);

/// The shape a signature shows for `spec`: -1 first when the model
/// batches (`max_batch` > 0).
std::vector<int64_t> declared_shape(const tensor_spec& spec, int64_t max_batch);

/// `x` in quotes, cut short and made valid UTF-8, for an error message.
std::string quote_name(std::string_view x);

/// A body's JSON object (its tensors' `data` on tapes) and the binary part
/// after it.
struct body_parts {
  nlohmann::json header;
  std::vector<data_tape> tapes;
  std::string_view binary;
  /// The JSON part's size: every element in it takes a byte at least.
  size_t json_size = 0;
};

/// Splits and parses a body: its JSON part must be an object nesting at
/// most `max_json_depth` deep; the tensors are in its array `tensors`
/// ("inputs", "outputs").
caf::expected<body_parts> split_body(std::string_view body,
                                     std::optional<size_t> header_length,
                                     std::string_view tensors);

/// A tensor's description, before its data.
struct tensor_head {
  std::string name;
  datatype type = datatype::FP32;
  std::vector<int64_t> shape;
  size_t count = 0;
  /// `parameters.binary_data_size`: its data is in the binary part.
  std::optional<size_t> binary_size;
  /// Which of the `kind`s ("input") it is, for errors.
  std::string_view kind;
  size_t index = 0;
  bool named = false;

  /// How errors name it: "input 'x'" (before its name is read, "inputs[2]").
  std::string label() const;
};

/// Reads `name`, `datatype`, `shape` and `parameters` of `obj`, the
/// `index`th element of the `kind`s ("input", "output").
caf::error read_head(const nlohmann::json& obj, std::string_view kind,
                     size_t index, tensor_head& out);

/// Takes consecutive tensors' bytes from a body's binary part.
class binary_reader {
public:
  explicit binary_reader(std::string_view rest) : rest_(rest) {}

  /// The next `n` bytes, or none when fewer are left.
  std::optional<std::string_view> take(size_t n) noexcept;

  /// Checks that the tensors used the binary part exactly.
  caf::error finish() const;

private:
  std::string_view rest_;
  size_t used_ = 0;
};

/// Reads the data of the tensor `obj` describes: its `data` (at most as
/// many elements as the JSON has bytes, checked before anything is
/// allocated) or its bytes in the binary part.
caf::expected<tensor> read_tensor(tensor_head head, const nlohmann::json& obj,
                                  const body_parts& parts,
                                  binary_reader& binary);

/// Reads a `parameters` object of bool, number and string values into
/// `out`, except the keys the protocol's extensions use.
caf::error read_parameters(const nlohmann::json& obj, std::string_view where,
                           parameter_map& out);

} // namespace actorserve::detail
