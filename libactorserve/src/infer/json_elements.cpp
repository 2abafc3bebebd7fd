#include "infer/json_elements.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "actorserve/error.hpp"
#include "base/text.hpp"
#include "infer/tensor_access.hpp"

namespace actorserve::detail {

namespace {

using kind = data_token::kind;

enum class verdict { ok, want_integer, want_bool, want_number, out_of_range };

double as_double(const data_token& v) noexcept {
  if (v.type == kind::integer)
    return static_cast<double>(static_cast<int64_t>(v.value));
  if (v.type == kind::unsigned_integer)
    return static_cast<double>(v.value);
  double d;
  std::memcpy(&d, &v.value, sizeof d);
  return d;
}

template <class T>
verdict convert_integer(const data_token& v, T& out) noexcept {
  using lim = std::numeric_limits<T>;
  if (v.type == kind::unsigned_integer) {
    if (v.value > static_cast<uint64_t>(lim::max()))
      return verdict::out_of_range;
    out = static_cast<T>(v.value);
  } else if (v.type == kind::integer) {
    auto s = static_cast<int64_t>(v.value);
    if (s < 0 ? (!lim::is_signed || s < static_cast<int64_t>(lim::min()))
              : static_cast<uint64_t>(s) > static_cast<uint64_t>(lim::max()))
      return verdict::out_of_range;
    out = static_cast<T>(s);
  } else {
    return verdict::want_integer;
  }
  return verdict::ok;
}

template <class T>
verdict convert(const data_token& v, T& out) noexcept {
  if constexpr (std::is_same_v<T, bool>) {
    if (v.type != kind::boolean)
      return verdict::want_bool;
    out = v.value != 0;
    return verdict::ok;
  } else if constexpr (std::is_integral_v<T>) {
    return convert_integer(v, out);
  } else { // float, double, fp16
    if (v.type != kind::integer && v.type != kind::unsigned_integer &&
        v.type != kind::floating)
      return verdict::want_number;
    auto d = as_double(v);
    if (!std::isfinite(d))
      return verdict::out_of_range;
    if constexpr (std::is_same_v<T, double>) {
      out = d;
    } else {
      if (std::fabs(d) > std::numeric_limits<float>::max())
        return verdict::out_of_range;
      auto f = static_cast<float>(d);
      if constexpr (std::is_same_v<T, float>) {
        out = f;
      } else {
        out = to_fp16(f);
        if ((out.bits & 0x7C00u) == 0x7C00u) // past the largest half
          return verdict::out_of_range;
      }
    }
    return verdict::ok;
  }
}

/// A number as the body wrote it, near enough for an error message.
std::string number_text(const data_token& v) {
  if (v.type == kind::integer)
    return std::to_string(static_cast<int64_t>(v.value));
  if (v.type == kind::unsigned_integer)
    return std::to_string(v.value);
  std::string out;
  write_json_double(out, as_double(v));
  return out;
}

caf::error element_error(const tensor_head& head, size_t index,
                         const data_token& v, verdict why) {
  auto at = head.label() + ": data[" + std::to_string(index) + "]";
  auto type = std::string{to_string(head.type)};
  switch (why) {
    case verdict::want_integer:
      return bad_body(at + " must be an integer (" + type + ")");
    case verdict::want_bool:
      return bad_body(at + " must be true or false (BOOL)");
    case verdict::want_number:
      return bad_body(at + " must be a number (" + type + ")");
    default:
      return bad_body(at + ": " + number_text(v) + " is out of range for " +
                      type);
  }
}

/// Writes the elements of the innermost array at `pos`, of a fixed-size
/// type.
template <class T>
struct fixed_leaf {
  const tensor_head& head;
  std::byte* base;
  size_t index = 0;

  caf::error operator()(const data_tape& tape, size_t pos) {
    auto n = tape.tokens[pos].value;
    if (n > head.count - index)
      return bad_body(head.label() + ": 'data' holds more elements than its shape");
    for (auto v = tape.tokens.data() + pos + 1; n > 0; --n, ++v) {
      T x{};
      if (auto r = convert(*v, x); r != verdict::ok)
        return element_error(head, index, *v, r);
      std::memcpy(base + index * sizeof(T), &x, sizeof(T));
      ++index;
    }
    return {};
  }
};

/// Appends the strings of the innermost array at `pos` of a BYTES tensor.
struct bytes_leaf {
  const tensor_head& head;
  std::vector<std::byte>& out;
  size_t index = 0;

  caf::error operator()(const data_tape& tape, size_t pos) {
    auto n = tape.tokens[pos].value;
    for (auto v = tape.tokens.data() + pos + 1; n > 0; --n, ++v) {
      if (v->type != kind::string)
        return bad_body(head.label() + ": data[" + std::to_string(index) +
                        "] must be a string (BYTES)");
      append_bytes_element(out, std::string_view{tape.text}.substr(v->value,
                                                                    v->length));
      ++index;
    }
    return {};
  }
};

/// Descends the nested array at `pos` (and moves `pos` past it), each
/// level as long as the shape says.
template <class Leaf>
caf::error walk(const data_tape& tape, size_t& pos, const tensor_head& head,
                size_t level, Leaf& leaf) {
  auto n = tape.tokens[pos].value;
  if (n != static_cast<uint64_t>(head.shape[level]))
    return bad_body(head.label() + ": 'data' nests " + std::to_string(n) +
                    " elements at level " + std::to_string(level) +
                    " where its shape has " + std::to_string(head.shape[level]));
  if (level + 1 == head.shape.size()) {
    auto err = leaf(tape, pos);
    pos += 1 + n; // a leaf that succeeded holds scalars only
    return err;
  }
  ++pos;
  for (; n > 0; --n) {
    if (tape.tokens[pos].type != kind::array)
      return bad_body(head.label() + ": 'data' nests less deep than its shape");
    if (auto err = walk(tape, pos, head, level + 1, leaf))
      return err;
  }
  return {};
}

template <class Leaf>
caf::error read_with(const data_tape& tape, const tensor_head& head,
                     Leaf& leaf) {
  if (tape.tokens.empty() || tape.tokens[0].type != kind::array)
    return bad_body(head.label() + ": 'data' must be an array");
  auto n = tape.tokens[0].value;
  if (head.shape.size() >= 2 && n > 0 && tape.tokens[1].type == kind::array) {
    size_t pos = 0;
    return walk(tape, pos, head, 0, leaf);
  }
  if (n != head.count)
    return bad_body(head.label() + ": 'data' has " + std::to_string(n) +
                    " elements but its shape holds " +
                    std::to_string(head.count));
  return leaf(tape, 0);
}

template <class T>
caf::error read_fixed(const data_tape& data, const tensor_head& head,
                      std::vector<std::byte>& out) {
  out.assign(head.count * sizeof(T), std::byte{0});
  fixed_leaf<T> leaf{head, out.data()};
  return read_with(data, head, leaf);
}

} // namespace

caf::error read_json_data(const data_tape& data, const tensor_head& head,
                          std::vector<std::byte>& out) {
  switch (head.type) {
    case datatype::BOOL: return read_fixed<bool>(data, head, out);
    case datatype::UINT8: return read_fixed<uint8_t>(data, head, out);
    case datatype::UINT16: return read_fixed<uint16_t>(data, head, out);
    case datatype::UINT32: return read_fixed<uint32_t>(data, head, out);
    case datatype::UINT64: return read_fixed<uint64_t>(data, head, out);
    case datatype::INT8: return read_fixed<int8_t>(data, head, out);
    case datatype::INT16: return read_fixed<int16_t>(data, head, out);
    case datatype::INT32: return read_fixed<int32_t>(data, head, out);
    case datatype::INT64: return read_fixed<int64_t>(data, head, out);
    case datatype::FP16: return read_fixed<fp16>(data, head, out);
    case datatype::FP32: return read_fixed<float>(data, head, out);
    case datatype::FP64: return read_fixed<double>(data, head, out);
    case datatype::BYTES: {
      out.clear();
      out.reserve(head.count * 4);
      bytes_leaf leaf{head, out};
      return read_with(data, head, leaf);
    }
  }
  return bad_body(head.label() + ": unknown datatype");
}

namespace {

template <class T>
bool all_finite(const tensor& t) {
  for (auto x : t.view<T>()) {
    if constexpr (std::is_same_v<T, fp16>) {
      if ((x.bits & 0x7C00u) == 0x7C00u)
        return false;
    } else if (!std::isfinite(x)) {
      return false;
    }
  }
  return true;
}

template <class T>
void write_number(std::string& out, T x) {
  if constexpr (std::is_same_v<T, bool>) {
    out += x ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, x);
    out.append(buf, r.ptr);
  } else if constexpr (std::is_same_v<T, fp16>) {
    write_json_double(out, to_float(x));
  } else {
    // A float goes as the shortest double that is exactly it, as Triton
    // writes them: read back as a double and narrowed, it is the same.
    write_json_double(out, static_cast<double>(x));
  }
}

template <class T>
void write_elements(std::string& out, const tensor& t) {
  bool first = true;
  for (auto x : t.view<T>()) {
    if (!first)
      out += ',';
    first = false;
    write_number(out, x);
  }
}

} // namespace

bool json_can_carry(const tensor& t) {
  switch (t.type()) {
    case datatype::FP16: return all_finite<fp16>(t);
    case datatype::FP32: return all_finite<float>(t);
    case datatype::FP64: return all_finite<double>(t);
    case datatype::BYTES:
      for (auto s : t.strings())
        if (!valid_utf8(s))
          return false;
      return true;
    default: return true;
  }
}

void write_json_data(std::string& out, const tensor& t) {
  out += '[';
  switch (t.type()) {
    case datatype::BOOL: write_elements<bool>(out, t); break;
    case datatype::UINT8: write_elements<uint8_t>(out, t); break;
    case datatype::UINT16: write_elements<uint16_t>(out, t); break;
    case datatype::UINT32: write_elements<uint32_t>(out, t); break;
    case datatype::UINT64: write_elements<uint64_t>(out, t); break;
    case datatype::INT8: write_elements<int8_t>(out, t); break;
    case datatype::INT16: write_elements<int16_t>(out, t); break;
    case datatype::INT32: write_elements<int32_t>(out, t); break;
    case datatype::INT64: write_elements<int64_t>(out, t); break;
    case datatype::FP16: write_elements<fp16>(out, t); break;
    case datatype::FP32: write_elements<float>(out, t); break;
    case datatype::FP64: write_elements<double>(out, t); break;
    case datatype::BYTES: {
      bool first = true;
      for (auto s : t.strings()) {
        if (!first)
          out += ',';
        first = false;
        write_json_string(out, s);
      }
      break;
    }
  }
  out += ']';
}

void write_json_string(std::string& out, std::string_view x) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  size_t plain = 0; // start of the run not yet copied
  for (size_t i = 0; i < x.size(); ++i) {
    auto c = static_cast<unsigned char>(x[i]);
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out.append(x.data() + plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
    }
  }
  out.append(x.data() + plain, x.size() - plain);
  out += '"';
}

void write_json_double(std::string& out, double x) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, x);
  out.append(buf, r.ptr);
  // "1.0", not "1", and "-0.0", not "-0": it reads back as a number with a
  // fraction, not as an integer (a parameter's kind stays, and the integer
  // 0 has no sign). Triton writes its floats so too.
  if (std::find_if(buf, r.ptr, [](char c) { return c == '.' || c == 'e'; }) ==
      r.ptr)
    out += ".0";
}

} // namespace actorserve::detail
