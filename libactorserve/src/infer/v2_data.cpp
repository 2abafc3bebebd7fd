#include "infer/v2_data.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include "actorserve/error.hpp"
#include "base/text.hpp"
#include "infer/json_elements.hpp"
#include "infer/tensor_access.hpp"
#include "infer/v2.hpp"

namespace actorserve::detail {

using nlohmann::json;

caf::error bad_body(std::string message) {
  return make_error(errc::bad_request, std::move(message));
}

std::vector<int64_t> declared_shape(const tensor_spec& spec, int64_t max_batch) {
  std::vector<int64_t> out;
  if (max_batch > 0)
    out.push_back(-1);
  out.insert(out.end(), spec.shape.begin(), spec.shape.end());
  return out;
}

std::string quote_name(std::string_view x) {
  return "'" + clip_text(x, 64) + "'";
}

caf::expected<body_parts> split_body(std::string_view body,
                                     std::optional<size_t> header_length,
                                     std::string_view tensors) {
  auto n = header_length.value_or(body.size());
  if (n > body.size())
    return bad_body(std::string{inference_header} + " is " +
                    std::to_string(n) + " but the body has only " +
                    std::to_string(body.size()) + " bytes");
  body_parts out;
  out.json_size = n;
  out.binary = body.substr(n);
  read_json json;
  if (!read_json_text(body.substr(0, n), tensors, json))
    return bad_body("the body is not JSON, or nests deeper than " +
                    std::to_string(max_json_depth) + " levels");
  if (!json.dom.is_object())
    return bad_body("the body is not a JSON object");
  out.header = std::move(json.dom);
  out.tapes = std::move(json.tapes);
  return out;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? "," : "") + std::to_string(shape[i]);
  return out + "]";
}

namespace {

caf::error read_shape(const json& obj, tensor_head& out) {
  auto it = obj.find("shape");
  if (it == obj.end() || !it->is_array())
    return bad_body(out.label() + ": 'shape' must be an array of integers");
  out.shape.reserve(it->size());
  for (auto& d : *it) {
    if (!d.is_number_unsigned()) // JSON's non-negative integers
      return bad_body(out.label() + ": 'shape' must hold integers >= 0");
    auto v = d.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return bad_body(out.label() + ": a dimension of 'shape' is too large");
    out.shape.push_back(static_cast<int64_t>(v));
  }
  auto n = element_count(out.shape);
  if (!n)
    return bad_body(out.label() + ": shape " + shape_text(out.shape) +
                    " holds too many elements");
  out.count = *n;
  return {};
}

caf::error read_head_parameters(const json& obj, tensor_head& out) {
  auto it = obj.find("parameters");
  if (it == obj.end())
    return {};
  if (!it->is_object())
    return bad_body(out.label() + ": 'parameters' must be an object");
  if (it->contains("shared_memory_region"))
    return bad_body(out.label() + ": shared memory is not supported");
  auto size = it->find("binary_data_size");
  if (size == it->end())
    return {};
  if (!size->is_number_unsigned())
    return bad_body(out.label() + ": 'binary_data_size' must be an integer >= 0");
  out.binary_size = size->get<uint64_t>();
  return {};
}

} // namespace

caf::error read_head(const json& obj, std::string_view kind, size_t index,
                     tensor_head& out) {
  out.kind = kind;
  out.index = index;
  if (!obj.is_object())
    return bad_body(out.label() + " must be an object");
  auto name = obj.find("name");
  if (name == obj.end() || !name->is_string())
    return bad_body(out.label() + ": 'name' must be a string");
  out.name = name->get<std::string>();
  out.named = true;
  auto type = obj.find("datatype");
  if (type == obj.end() || !type->is_string())
    return bad_body(out.label() + ": 'datatype' must be a string");
  auto t = datatype_from(type->get_ref<const std::string&>());
  if (!t)
    return bad_body(out.label() + ": unknown datatype " +
                    quote_name(type->get_ref<const std::string&>()));
  out.type = *t;
  if (auto err = read_shape(obj, out))
    return err;
  return read_head_parameters(obj, out);
}

std::string tensor_head::label() const {
  if (named)
    return std::string{kind} + " " + quote_name(name);
  return std::string{kind} + "s[" + std::to_string(index) + "]";
}

std::optional<std::string_view> binary_reader::take(size_t n) noexcept {
  if (n > rest_.size())
    return std::nullopt;
  auto out = rest_.substr(0, n);
  rest_.remove_prefix(n);
  used_ += n;
  return out;
}

caf::error binary_reader::finish() const {
  if (rest_.empty())
    return {};
  return bad_body("the tensors' binary_data_size add up to " +
                  std::to_string(used_) + " bytes but " +
                  std::to_string(used_ + rest_.size()) +
                  " follow the JSON header");
}

namespace {

caf::expected<tensor> read_binary(tensor_head& head, binary_reader& binary) {
  auto size = *head.binary_size;
  auto bytes = binary.take(size);
  if (!bytes)
    return bad_body(head.label() + ": binary_data_size " + std::to_string(size) +
                    " runs past the end of the body");
  auto p = reinterpret_cast<const std::byte*>(bytes->data());
  if (head.type == datatype::BYTES) {
    if (!valid_bytes_data(p, size, head.count))
      return bad_body(head.label() + ": its BYTES data is not " +
                      std::to_string(head.count) +
                      " length-prefixed elements filling binary_data_size " +
                      std::to_string(size));
  } else if (head.count * element_size(head.type) != size) {
    return bad_body(head.label() + ": binary_data_size " + std::to_string(size) +
                    " does not match shape " + shape_text(head.shape) +
                    " of " + to_string(head.type) + " (" +
                    std::to_string(head.count * element_size(head.type)) +
                    " bytes)");
  } else if (head.type == datatype::BOOL) {
    for (size_t i = 0; i < size; ++i)
      if (static_cast<uint8_t>(p[i]) > 1)
        return bad_body(head.label() + ": BOOL element " + std::to_string(i) +
                        " is neither 0 nor 1");
  }
  std::vector<std::byte> data(p, p + size);
  return tensor_access::make(std::move(head.name), head.type,
                             std::move(head.shape), head.count,
                             std::move(data));
}

} // namespace

caf::expected<tensor> read_tensor(tensor_head head, const json& obj,
                                  const body_parts& parts,
                                  binary_reader& binary) {
  auto data = obj.find("data");
  if (head.binary_size) {
    if (data != obj.end())
      return bad_body(head.label() + ": has both 'data' and binary_data_size");
    return read_binary(head, binary);
  }
  if (data == obj.end())
    return bad_body(head.label() + ": has neither 'data' nor binary_data_size");
  // Each element takes a byte of the JSON at least: a shape that holds more
  // cannot match, and is refused before its buffer is allocated.
  if (head.count > parts.json_size)
    return bad_body(head.label() + ": shape " + shape_text(head.shape) +
                    " holds " + std::to_string(head.count) +
                    " elements, more than its 'data' could");
  if (!data->is_binary()) // the reader puts every tensor's data on a tape
    return bad_body(head.label() + ": 'data' must be an array");
  std::vector<std::byte> out;
  if (auto err = read_json_data(parts.tapes[data->get_binary().subtype()],
                                head, out))
    return err;
  return tensor_access::make(std::move(head.name), head.type,
                             std::move(head.shape), head.count,
                             std::move(out));
}

caf::error read_parameters(const json& obj, std::string_view where,
                           parameter_map& out) {
  if (!obj.is_object())
    return bad_body(std::string{where} + " must be an object");
  for (auto& [key, v] : obj.items()) {
    if (v.is_boolean())
      out.emplace(key, v.get<bool>());
    else if (v.is_number_integer() &&
             (!v.is_number_unsigned() ||
              v.get<uint64_t>() <= uint64_t{std::numeric_limits<int64_t>::max()}))
      out.emplace(key, v.get<int64_t>());
    else if (v.is_number() && std::isfinite(v.get<double>()))
      out.emplace(key, v.get<double>());
    else if (v.is_string())
      out.emplace(key, v.get<std::string>());
    else
      return bad_body(std::string{where} + "." + clip_text(key, 64) +
                      " must be a bool, a finite number or a string");
  }
  return {};
}

} // namespace actorserve::detail
