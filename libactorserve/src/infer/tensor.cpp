#include "actorserve/tensor.hpp"

#include <array>
#include <cstring>
#include <limits>

#include "infer/tensor_access.hpp"

namespace actorserve {

namespace {

struct type_info {
  datatype type;
  const char* name;
  size_t size;
};

constexpr std::array<type_info, 13> types{{
  {datatype::BOOL, "BOOL", 1},     {datatype::UINT8, "UINT8", 1},
  {datatype::UINT16, "UINT16", 2}, {datatype::UINT32, "UINT32", 4},
  {datatype::UINT64, "UINT64", 8}, {datatype::INT8, "INT8", 1},
  {datatype::INT16, "INT16", 2},   {datatype::INT32, "INT32", 4},
  {datatype::INT64, "INT64", 8},   {datatype::FP16, "FP16", 2},
  {datatype::FP32, "FP32", 4},     {datatype::FP64, "FP64", 8},
  {datatype::BYTES, "BYTES", 0},
}};

/// The most elements a shape may hold: far past any body we accept, and
/// small enough that bytes (8 an element) cannot overflow.
constexpr size_t max_elements = size_t{1} << 56;

uint32_t bits_of(float x) noexcept {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

float float_of(uint32_t b) noexcept {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

[[noreturn]] void fail(errc code, std::string message) {
  throw error_exception(code, message);
}

} // namespace

const char* to_string(datatype x) noexcept {
  auto i = static_cast<size_t>(x);
  return i < types.size() ? types[i].name : "?";
}

std::optional<datatype> datatype_from(std::string_view name) noexcept {
  for (auto& t : types)
    if (name == t.name)
      return t.type;
  return std::nullopt;
}

size_t element_size(datatype x) noexcept {
  auto i = static_cast<size_t>(x);
  return i < types.size() ? types[i].size : 0;
}

float to_float(fp16 x) noexcept {
  uint32_t sign = static_cast<uint32_t>(x.bits & 0x8000u) << 16;
  uint32_t exp = (x.bits >> 10) & 0x1Fu;
  uint32_t mant = x.bits & 0x3FFu;
  if (exp == 0) { // zero or subnormal: mant * 2^-24, exact in a float
    auto v = static_cast<float>(mant) * float_of(0x33800000u); // 2^-24
    return float_of(bits_of(v) | sign);
  }
  if (exp == 31) // infinity or NaN, payload kept
    return float_of(sign | 0x7F800000u | mant << 13);
  return float_of(sign | (exp - 15 + 127) << 23 | mant << 13);
}

fp16 to_fp16(float x) noexcept {
  uint32_t f = bits_of(x);
  auto sign = static_cast<uint16_t>((f >> 16) & 0x8000u);
  f &= 0x7FFFFFFFu;
  if (f > 0x7F800000u) { // NaN: keep the payload's top bits, stay a NaN
    auto mant = static_cast<uint16_t>(f >> 13 & 0x3FFu);
    return {static_cast<uint16_t>(sign | 0x7C00u | (mant ? mant : 0x200u))};
  }
  if (f >= (127u + 16u) << 23) // 2^16 and up, infinity included
    return {static_cast<uint16_t>(sign | 0x7C00u)};
  if (f < 113u << 23) { // below 2^-14: a subnormal half, or zero
    // Adding 0.5 aligns the half's subnormal step (2^-24) with the
    // float's last mantissa bit, so the FPU rounds to nearest even.
    auto v = float_of(f) + 0.5f;
    return {static_cast<uint16_t>(sign | (bits_of(v) - 0x3F000000u))};
  }
  uint32_t odd = (f >> 13) & 1u;
  f += ((15u - 127u) << 23) + 0xFFFu + odd; // rebias; round half to even
  return {static_cast<uint16_t>(sign | (f >> 13))};
}

std::optional<size_t> element_count(const std::vector<int64_t>& shape) noexcept {
  size_t n = 1;
  bool overflow = false;
  for (auto d : shape) {
    if (d < 0)
      return std::nullopt;
    if (d == 0)
      return size_t{0};
    if (overflow || static_cast<uint64_t>(d) > max_elements / n)
      overflow = true;
    else
      n *= static_cast<size_t>(d);
  }
  if (overflow)
    return std::nullopt;
  return n;
}

tensor tensor::zeros(std::string name, datatype type,
                     std::vector<int64_t> shape) {
  auto n = element_count(shape);
  if (!n)
    fail(errc::bad_request, "tensor '" + name + "': its shape is negative or "
                              "holds too many elements");
  tensor t;
  t.name_ = std::move(name);
  t.type_ = type;
  t.shape_ = std::move(shape);
  t.count_ = *n;
  // A BYTES element of "" is its 4-byte length, 0.
  auto size = type == datatype::BYTES ? 4 : element_size(type);
  t.data_.assign(*n * size, std::byte{0});
  return t;
}

tensor tensor::bytes(std::string name, std::vector<int64_t> shape,
                     const std::vector<std::string_view>& values) {
  auto t = zeros(std::move(name), datatype::BYTES, std::move(shape));
  t.check_count(values.size());
  size_t total = 0;
  for (auto v : values) {
    if (v.size() > std::numeric_limits<uint32_t>::max())
      fail(errc::bad_request, "tensor '" + t.name_ + "': an element is "
                                "longer than a BYTES element may be (4 GiB)");
    total += 4 + v.size();
  }
  t.data_.clear();
  t.data_.reserve(total);
  for (auto v : values)
    detail::append_bytes_element(t.data_, v);
  return t;
}

tensor tensor::bytes(std::string name, std::vector<int64_t> shape,
                     const std::vector<std::string>& values) {
  std::vector<std::string_view> views{values.begin(), values.end()};
  return bytes(std::move(name), std::move(shape), views);
}

std::vector<std::string_view> tensor::strings() const {
  check_type(datatype::BYTES);
  std::vector<std::string_view> out;
  out.reserve(count_);
  auto p = data_.data();
  for (size_t i = 0; i < count_; ++i) {
    auto n = detail::read_u32le(p);
    out.emplace_back(reinterpret_cast<const char*>(p + 4), n);
    p += 4 + n;
  }
  return out;
}

void tensor::check_type(datatype want) const {
  if (want != type_)
    fail(errc::user_error, "tensor '" + name_ + "' holds " +
                             to_string(type_) + ", not " + to_string(want));
}

void tensor::check_count(size_t n) const {
  if (n != count_)
    fail(errc::bad_request, "tensor '" + name_ + "': " + std::to_string(n) +
                              " values for a shape of " +
                              std::to_string(count_) + " elements");
}

bool operator==(const tensor& a, const tensor& b) noexcept {
  return a.name_ == b.name_ && a.type_ == b.type_ && a.shape_ == b.shape_ &&
         a.data_ == b.data_;
}

namespace {

template <class Item>
const tensor* find_named(const std::vector<Item>& xs, std::string_view name) {
  for (auto& x : xs)
    if (x.name() == name)
      return &x;
  return nullptr;
}

} // namespace

const tensor* infer_request::input(std::string_view name) const noexcept {
  return find_named(inputs, name);
}

bool operator==(const infer_request& a, const infer_request& b) noexcept {
  return a.id == b.id && a.inputs == b.inputs && a.outputs == b.outputs &&
         a.binary_data_output == b.binary_data_output &&
         a.parameters == b.parameters;
}

const tensor* infer_response::output(std::string_view name) const noexcept {
  return find_named(outputs, name);
}

bool operator==(const infer_response& a, const infer_response& b) noexcept {
  return a.model_name == b.model_name && a.model_version == b.model_version &&
         a.id == b.id && a.outputs == b.outputs && a.parameters == b.parameters;
}

namespace detail {

tensor tensor_access::make(std::string name, datatype type,
                           std::vector<int64_t> shape, size_t count,
                           std::vector<std::byte> data) {
  tensor t;
  t.name_ = std::move(name);
  t.type_ = type;
  t.shape_ = std::move(shape);
  t.count_ = count;
  t.data_ = std::move(data);
  return t;
}

void append_bytes_element(std::vector<std::byte>& out, std::string_view x) {
  auto n = static_cast<uint32_t>(x.size());
  std::byte len[4] = {std::byte(n & 0xFF), std::byte(n >> 8 & 0xFF),
                      std::byte(n >> 16 & 0xFF), std::byte(n >> 24)};
  out.insert(out.end(), len, len + 4);
  auto p = reinterpret_cast<const std::byte*>(x.data());
  out.insert(out.end(), p, p + x.size());
}

bool valid_bytes_data(const std::byte* data, size_t size,
                      size_t count) noexcept {
  size_t at = 0;
  for (size_t i = 0; i < count; ++i) {
    if (size - at < 4)
      return false;
    size_t n = read_u32le(data + at);
    at += 4;
    if (size - at < n)
      return false;
    at += n;
  }
  return at == size;
}

std::vector<size_t> bytes_offsets(const std::byte* data, size_t count) {
  std::vector<size_t> out;
  out.reserve(count + 1);
  size_t at = 0;
  for (size_t i = 0; i < count; ++i) {
    out.push_back(at);
    at += 4 + read_u32le(data + at);
  }
  out.push_back(at);
  return out;
}

} // namespace detail

} // namespace actorserve
