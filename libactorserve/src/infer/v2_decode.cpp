// Decoding v2 infer requests (checked against the model's signature) and
// responses (checked against their own shapes).
#include <algorithm>

#include "actorserve/error.hpp"
#include "infer/v2.hpp"
#include "infer/v2_data.hpp"

namespace actorserve::detail {

using nlohmann::json;

namespace {

/// The index of the spec named `name`, or `specs.size()`.
size_t find_spec(const std::vector<tensor_spec>& specs, std::string_view name) {
  size_t i = 0;
  while (i < specs.size() && specs[i].name != name)
    ++i;
  return i;
}

/// The shape a request's tensor must have: the spec's, after the batch
/// dimension when the model batches.
bool shape_fits(const tensor_head& head, const tensor_spec& spec,
                int64_t max_batch) {
  size_t lead = max_batch > 0 ? 1 : 0;
  if (head.shape.size() != spec.shape.size() + lead)
    return false;
  if (lead && (head.shape[0] < 1 || head.shape[0] > max_batch))
    return false;
  for (size_t i = 0; i < spec.shape.size(); ++i)
    if (spec.shape[i] != -1 && spec.shape[i] != head.shape[i + lead])
      return false;
  return true;
}

/// Checks an input's head against the signature; `batch` is the batch size
/// the inputs before it had (0 before the first), `seen` the inputs they
/// were.
caf::error check_input(const tensor_head& head, const model_signature& sig,
                       int64_t& batch, std::vector<bool>& seen) {
  auto which = find_spec(sig.inputs, head.name);
  if (which == sig.inputs.size())
    return bad_body("unexpected " + head.label() + " for model " +
                    quote_name(sig.name));
  if (seen[which])
    return bad_body(head.label() + " appears twice");
  seen[which] = true;
  auto spec = &sig.inputs[which];
  if (spec->type != head.type)
    return bad_body(head.label() + ": datatype " + to_string(head.type) +
                    ", but the model expects " + to_string(spec->type));
  if (!shape_fits(head, *spec, sig.max_batch_size))
    return bad_body(head.label() + ": shape " + shape_text(head.shape) +
                    " does not match the model's " +
                    shape_text(declared_shape(*spec, sig.max_batch_size)) +
                    (sig.max_batch_size > 0
                       ? " (batch up to " + std::to_string(sig.max_batch_size) + ")"
                       : std::string{}));
  if (sig.max_batch_size > 0) {
    if (batch != 0 && head.shape[0] != batch)
      return bad_body(head.label() + ": batch size " +
                      std::to_string(head.shape[0]) + ", but another input's is " +
                      std::to_string(batch));
    batch = head.shape[0];
  }
  return {};
}

caf::error read_inputs(const body_parts& parts, const model_signature& sig,
                       infer_request& out) {
  auto inputs = parts.header.find("inputs");
  if (inputs == parts.header.end() || !inputs->is_array())
    return bad_body("'inputs' must be an array");
  binary_reader binary{parts.binary};
  std::vector<bool> seen(sig.inputs.size());
  int64_t batch = 0;
  out.inputs.reserve(inputs->size());
  for (size_t i = 0; i < inputs->size(); ++i) {
    auto& obj = (*inputs)[i];
    tensor_head head;
    if (auto err = read_head(obj, "input", i, head))
      return err;
    if (auto err = check_input(head, sig, batch, seen))
      return err;
    auto t = read_tensor(std::move(head), obj, parts, binary);
    if (!t)
      return std::move(t.error());
    out.inputs.push_back(std::move(*t));
  }
  for (size_t i = 0; i < sig.inputs.size(); ++i)
    if (!sig.inputs[i].optional && !seen[i])
      return bad_body("input " + quote_name(sig.inputs[i].name) + " is missing");
  return binary.finish();
}

caf::error read_outputs(const json& header, const model_signature& sig,
                        bool binary_default, infer_request& out) {
  auto outputs = header.find("outputs");
  if (outputs == header.end())
    return {};
  if (!outputs->is_array())
    return bad_body("'outputs' must be an array");
  std::vector<bool> seen(sig.outputs.size());
  for (size_t i = 0; i < outputs->size(); ++i) {
    auto& obj = (*outputs)[i];
    auto name = obj.is_object() ? obj.find("name") : obj.end();
    if (!obj.is_object() || name == obj.end() || !name->is_string())
      return bad_body("outputs[" + std::to_string(i) +
                      "]: 'name' must be a string");
    requested_output r{name->get<std::string>(), binary_default};
    auto label = [&] { return "output " + quote_name(r.name); };
    auto which = find_spec(sig.outputs, r.name);
    if (which == sig.outputs.size())
      return bad_body("unexpected " + label() + " requested of model " +
                      quote_name(sig.name));
    if (seen[which])
      return bad_body(label() + " is requested twice");
    seen[which] = true;
    if (auto params = obj.find("parameters"); params != obj.end()) {
      if (!params->is_object())
        return bad_body(label() + ": 'parameters' must be an object");
      if (params->contains("classification"))
        return bad_body(label() + ": classification is not supported");
      if (params->contains("shared_memory_region"))
        return bad_body(label() + ": shared memory is not supported");
      if (auto b = params->find("binary_data"); b != params->end()) {
        if (!b->is_boolean())
          return bad_body(label() + ": 'binary_data' must be true or false");
        r.binary_data = b->get<bool>();
      }
    }
    out.outputs.push_back(std::move(r));
  }
  return {};
}

caf::error read_request_top(const json& header, infer_request& out) {
  if (auto id = header.find("id"); id != header.end()) {
    if (!id->is_string())
      return bad_body("'id' must be a string");
    out.id = id->get<std::string>();
  }
  auto params = header.find("parameters");
  if (params == header.end())
    return {};
  if (auto err = read_parameters(*params, "parameters", out.parameters))
    return err;
  auto b = out.parameters.find("binary_data_output");
  if (b == out.parameters.end())
    return {};
  if (!std::holds_alternative<bool>(b->second))
    return bad_body("parameters.binary_data_output must be true or false");
  out.binary_data_output = std::get<bool>(b->second);
  out.parameters.erase(b);
  return {};
}

} // namespace

caf::expected<infer_request>
decode_infer_request(std::string_view body,
                     std::optional<size_t> json_header_length,
                     const model_signature& sig) {
  auto parts = split_body(body, json_header_length, "inputs");
  if (!parts)
    return std::move(parts.error());
  infer_request out;
  if (auto err = read_request_top(parts->header, out))
    return err;
  if (auto err = read_inputs(*parts, sig, out))
    return err;
  if (auto err = read_outputs(parts->header, sig, out.binary_data_output, out))
    return err;
  return out;
}

namespace {

caf::error read_string_field(const json& header, const char* key,
                             std::string& out) {
  auto it = header.find(key);
  if (it == header.end())
    return {};
  if (!it->is_string())
    return bad_body(std::string{"'"} + key + "' must be a string");
  out = it->get<std::string>();
  return {};
}

} // namespace

caf::expected<infer_response>
decode_infer_response(std::string_view body,
                      std::optional<size_t> json_header_length) {
  auto parts = split_body(body, json_header_length, "outputs");
  if (!parts)
    return std::move(parts.error());
  infer_response out;
  auto& h = parts->header;
  for (auto [key, field] : {std::pair{"model_name", &out.model_name},
                            std::pair{"model_version", &out.model_version},
                            std::pair{"id", &out.id}})
    if (auto err = read_string_field(h, key, *field))
      return err;
  if (auto p = h.find("parameters"); p != h.end())
    if (auto err = read_parameters(*p, "parameters", out.parameters))
      return err;
  auto outputs = h.find("outputs");
  if (outputs == h.end() || !outputs->is_array())
    return bad_body("'outputs' must be an array");
  binary_reader binary{parts->binary};
  for (size_t i = 0; i < outputs->size(); ++i) {
    tensor_head head;
    if (auto err = read_head((*outputs)[i], "output", i, head))
      return err;
    auto t = read_tensor(std::move(head), (*outputs)[i], *parts, binary);
    if (!t)
      return std::move(t.error());
    out.outputs.push_back(std::move(*t));
  }
  if (auto err = binary.finish())
    return err;
  return out;
}

} // namespace actorserve::detail
