/// @file
/// Tensors as the Open Inference Protocol ("KServe v2", the protocol of
/// Triton, KServe and MLServer) carries them: a datatype, a shape and the
/// data, with the request and response of a model's `infer` call and the
/// signature a model publishes as its metadata.
///
/// A `tensor` owns its data in the protocol's binary layout: little-endian,
/// row major, no padding; BOOL one byte (0 or 1) an element; FP16 the raw
/// IEEE half bits (`fp16`); BYTES each element a 4-byte little-endian
/// length and then its bytes. Typed views read it without a copy:
///
/// ```cpp
/// auto in = req.inputs[0].view<int32_t>();       // span<const int32_t>
/// auto out = tensor::zeros("OUT", datatype::FP32, {2, 3});
/// for (auto& x : out.mutable_view<float>()) x = 1.f;
/// auto words = tensor::bytes("WORDS", {2}, {"hi", "there"});
/// ```
///
/// A view of the wrong type throws `error_exception` with
/// `errc::user_error`: the request was checked against the model's
/// signature, so a mismatch is the model code's mistake.
///
/// The codec for the protocol's JSON and binary bodies is private to the
/// library (src/infer/); this header is what model code sees.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <caf/span.hpp>

#include "actorserve/error.hpp"

namespace actorserve {

/// The protocol's tensor datatypes, named as on the wire ("INT32").
enum class datatype : uint8_t {
  BOOL,
  UINT8,
  UINT16,
  UINT32,
  UINT64,
  INT8,
  INT16,
  INT32,
  INT64,
  FP16,
  FP32,
  FP64,
  BYTES,
};

/// The wire name, e.g. "FP32".
const char* to_string(datatype x) noexcept;

/// The datatype of a wire name; none for an unknown name (names are
/// case-sensitive, as in the protocol).
std::optional<datatype> datatype_from(std::string_view name) noexcept;

/// Bytes per element; 0 for BYTES, whose elements vary.
size_t element_size(datatype x) noexcept;

/// An IEEE 754 half-precision number, kept as its raw bits.
struct fp16 {
  uint16_t bits = 0;
  friend bool operator==(fp16 a, fp16 b) noexcept { return a.bits == b.bits; }
};

/// Exact: every half is a float.
float to_float(fp16 x) noexcept;

/// Rounded to nearest, ties to even; past the largest half, infinity.
fp16 to_fp16(float x) noexcept;

/// The datatype of a C++ element type (`datatype_of_v<float>` is FP32).
template <class T>
struct datatype_of;
#define ACTORSERVE_DATATYPE_OF(T, D)                                           \
  template <>                                                                  \
  struct datatype_of<T> {                                                      \
    static constexpr datatype value = datatype::D;                             \
  };
ACTORSERVE_DATATYPE_OF(bool, BOOL)
ACTORSERVE_DATATYPE_OF(uint8_t, UINT8)
ACTORSERVE_DATATYPE_OF(uint16_t, UINT16)
ACTORSERVE_DATATYPE_OF(uint32_t, UINT32)
ACTORSERVE_DATATYPE_OF(uint64_t, UINT64)
ACTORSERVE_DATATYPE_OF(int8_t, INT8)
ACTORSERVE_DATATYPE_OF(int16_t, INT16)
ACTORSERVE_DATATYPE_OF(int32_t, INT32)
ACTORSERVE_DATATYPE_OF(int64_t, INT64)
ACTORSERVE_DATATYPE_OF(fp16, FP16)
ACTORSERVE_DATATYPE_OF(float, FP32)
ACTORSERVE_DATATYPE_OF(double, FP64)
#undef ACTORSERVE_DATATYPE_OF
template <class T>
constexpr datatype datatype_of_v = datatype_of<T>::value;

/// The number of elements of `shape`: none when a dimension is negative or
/// the product passes 2^56 (a shape with a 0 dimension has 0 elements,
/// whatever the others).
std::optional<size_t> element_count(const std::vector<int64_t>& shape) noexcept;

/// A tensor as a model declares it. A dimension of -1 takes any size.
struct tensor_spec {
  std::string name;
  datatype type = datatype::FP32;
  std::vector<int64_t> shape;
  /// The request may leave it out.
  bool optional = false;
};

namespace detail {
struct tensor_access;
} // namespace detail

/// A named tensor that owns its data (see the file's comment for the
/// layout). Copyable; equal when name, datatype, shape and bytes are.
class tensor {
public:
  tensor() = default;

  /// A tensor of zeros (BYTES: of empty strings). Throws `error_exception`
  /// (`bad_request`) when the shape is negative or too large.
  static tensor zeros(std::string name, datatype type,
                      std::vector<int64_t> shape);

  /// A tensor of `values`, which must number as many as the shape holds
  /// (else throws `error_exception`, `bad_request`).
  template <class T>
  static tensor of(std::string name, std::vector<int64_t> shape,
                   const std::vector<T>& values) {
    tensor t = zeros(std::move(name), datatype_of_v<T>, std::move(shape));
    t.check_count(values.size());
    auto out = t.template mutable_view<T>();
    if constexpr (std::is_same_v<T, bool>)
      for (size_t i = 0; i < values.size(); ++i)
        out[i] = values[i];
    else if (!values.empty())
      std::memcpy(out.data(), values.data(), values.size() * sizeof(T));
    return t;
  }

  /// A BYTES tensor of `values` (as many as the shape holds, else throws
  /// `error_exception`, `bad_request`).
  static tensor bytes(std::string name, std::vector<int64_t> shape,
                      const std::vector<std::string_view>& values);
  static tensor bytes(std::string name, std::vector<int64_t> shape,
                      const std::vector<std::string>& values);
  static tensor bytes(std::string name, std::vector<int64_t> shape,
                      std::initializer_list<std::string_view> values) {
    return bytes(std::move(name), std::move(shape),
                 std::vector<std::string_view>(values));
  }

  const std::string& name() const noexcept { return name_; }
  void rename(std::string name) { name_ = std::move(name); }
  datatype type() const noexcept { return type_; }
  const std::vector<int64_t>& shape() const noexcept { return shape_; }
  /// Elements, as the shape says.
  size_t size() const noexcept { return count_; }
  /// The data in the wire layout.
  caf::span<const std::byte> raw() const noexcept {
    return {data_.data(), data_.size()};
  }

  /// The elements as `T`; throws `error_exception` (`user_error`) unless
  /// `T` is the tensor's element type.
  template <class T>
  caf::span<const T> view() const {
    check_type(datatype_of_v<T>);
    return {reinterpret_cast<const T*>(data_.data()), count_};
  }

  /// As `view`, writable (fixed-size types only).
  template <class T>
  caf::span<T> mutable_view() {
    check_type(datatype_of_v<T>);
    return {reinterpret_cast<T*>(data_.data()), count_};
  }

  /// A BYTES tensor's elements, pointing into the tensor; throws
  /// `error_exception` (`user_error`) for another datatype.
  std::vector<std::string_view> strings() const;

  friend bool operator==(const tensor& a, const tensor& b) noexcept;
  friend bool operator!=(const tensor& a, const tensor& b) noexcept {
    return !(a == b);
  }

private:
  friend struct detail::tensor_access;
  void check_type(datatype want) const;
  void check_count(size_t n) const;

  std::string name_;
  datatype type_ = datatype::FP32;
  std::vector<int64_t> shape_;
  size_t count_ = 0;
  std::vector<std::byte> data_;
};

/// A request or response parameter: the protocol allows a bool, a number
/// or a string. An integer past int64's range is kept as a double.
using parameter = std::variant<bool, int64_t, double, std::string>;
using parameter_map = std::map<std::string, parameter, std::less<>>;

/// What a model publishes as its metadata, and what requests are checked
/// against. With `max_batch_size` > 0 the shapes leave out the batch
/// dimension (as Triton's model configuration does): a request's tensors
/// then have one more, dimension 0, the same 1..max_batch_size in every
/// input, and the metadata shows it as -1.
struct model_signature {
  std::string name;
  std::string version;
  std::string platform = "actorserve";
  std::vector<tensor_spec> inputs;
  std::vector<tensor_spec> outputs;
  int64_t max_batch_size = 0;
};

/// An output the client asked for, and whether it wants it as binary data
/// (the binary tensor data extension) or as JSON.
struct requested_output {
  std::string name;
  bool binary_data = false;
  friend bool operator==(const requested_output& a,
                         const requested_output& b) noexcept {
    return a.name == b.name && a.binary_data == b.binary_data;
  }
};

/// An inference request. `outputs` empty: every output, each as
/// `binary_data_output` says.
struct infer_request {
  std::string id;
  std::vector<tensor> inputs;
  std::vector<requested_output> outputs;
  /// The request-level `binary_data_output` parameter: outputs not named
  /// with a `binary_data` of their own come back as binary data.
  bool binary_data_output = false;
  /// The request's other parameters.
  parameter_map parameters;

  /// The input named `name`, or null.
  const tensor* input(std::string_view name) const noexcept;
  friend bool operator==(const infer_request& a,
                         const infer_request& b) noexcept;
};

/// An inference response.
struct infer_response {
  std::string model_name;
  std::string model_version;
  std::string id;
  std::vector<tensor> outputs;
  parameter_map parameters;

  /// The output named `name`, or null.
  const tensor* output(std::string_view name) const noexcept;
  friend bool operator==(const infer_response& a,
                         const infer_response& b) noexcept;
};

} // namespace actorserve
