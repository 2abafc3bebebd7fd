// Encoding v2 bodies: responses (and requests, as a client sends them) in
// JSON with the binary tensor data extension, the metadata bodies and the
// error body. Written straight into one string, without a JSON DOM.
#include <algorithm>
#include <cmath>
#include <variant>

#include "actorserve/error.hpp"
#include "base/text.hpp"
#include "infer/json_elements.hpp"
#include "infer/v2.hpp"
#include "infer/v2_data.hpp"

namespace actorserve::detail {

namespace {

/// Text from anywhere, as a JSON string (invalid UTF-8 becomes U+FFFD).
void write_text(std::string& out, std::string_view x) {
  if (valid_utf8(x))
    write_json_string(out, x);
  else
    write_json_string(out, to_valid_utf8(x));
}

void write_key(std::string& out, std::string_view key) {
  write_json_string(out, key);
  out += ':';
}

void write_shape(std::string& out, const std::vector<int64_t>& shape) {
  out += '[';
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ',';
    out += std::to_string(shape[i]);
  }
  out += ']';
}

/// `"parameters":{...},` when there are any.
void write_parameters(std::string& out, const parameter_map& params,
                      bool binary_data_output = false) {
  if (params.empty() && !binary_data_output)
    return;
  write_key(out, "parameters");
  out += '{';
  bool first = true;
  for (auto& [key, value] : params) {
    if (!first)
      out += ',';
    first = false;
    write_text(out, key);
    out += ':';
    std::visit(
      [&](auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>)
          out += v ? "true" : "false";
        else if constexpr (std::is_same_v<T, int64_t>)
          out += std::to_string(v);
        else if constexpr (std::is_same_v<T, double>)
          write_json_double(out, std::isfinite(v) ? v : 0.0);
        else
          write_text(out, v);
      },
      value);
  }
  if (binary_data_output)
    out += first ? "\"binary_data_output\":true" : ",\"binary_data_output\":true";
  out += "},";
}

/// One tensor's object: its data in JSON, or its size in the binary part.
void write_tensor(std::string& out, const tensor& t, bool binary) {
  out += '{';
  write_key(out, "name");
  write_text(out, t.name());
  out += ",\"datatype\":\"";
  out += to_string(t.type());
  out += "\",\"shape\":";
  write_shape(out, t.shape());
  if (binary) {
    out += ",\"parameters\":{\"binary_data_size\":";
    out += std::to_string(t.raw().size());
    out += "}}";
  } else {
    out += ",\"data\":";
    write_json_data(out, t);
    out += '}';
  }
}

/// A body being written: its JSON, and the tensors whose data goes in the
/// binary part after it.
struct body_writer {
  std::string json = "{";
  std::vector<const tensor*> binary;
  size_t written = 0;

  /// `"id":"...",` when there is one.
  void id(const std::string& x) {
    if (x.empty())
      return;
    write_key(json, "id");
    write_text(json, x);
    json += ',';
  }

  /// The next tensor of the array being written.
  void add(const tensor& t, bool as_binary) {
    if (written++)
      json += ',';
    write_tensor(json, t, as_binary);
    if (as_binary)
      binary.push_back(&t);
  }

  encoded_body finish() {
    encoded_body out;
    if (binary.empty()) {
      out.body = std::move(json);
      return out;
    }
    size_t extra = 0;
    for (auto t : binary)
      extra += t->raw().size();
    out.json_header_length = json.size();
    out.body = std::move(json);
    out.body.reserve(out.body.size() + extra);
    for (auto t : binary)
      out.body.append(reinterpret_cast<const char*>(t->raw().data()),
                      t->raw().size());
    return out;
  }
};

/// Whether the response's output `name` goes as binary data, or none when
/// it was not asked for.
std::optional<bool> wanted(const std::vector<requested_output>& requested,
                           bool binary_default, const std::string& name) {
  if (requested.empty())
    return binary_default;
  for (auto& r : requested)
    if (r.name == name)
      return r.binary_data;
  return std::nullopt;
}

} // namespace

caf::expected<encoded_body>
encode_infer_response(const infer_response& r,
                      const std::vector<requested_output>& requested,
                      bool binary_data_output) {
  for (auto& q : requested)
    if (!r.output(q.name))
      return make_error(errc::user_error, "the model's response lacks output " +
                                            quote_name(q.name));
  body_writer w;
  write_key(w.json, "model_name");
  write_text(w.json, r.model_name);
  w.json += ",\"model_version\":";
  write_text(w.json, r.model_version);
  w.json += ',';
  w.id(r.id);
  write_parameters(w.json, r.parameters);
  w.json += "\"outputs\":[";
  for (auto& t : r.outputs)
    if (auto want = wanted(requested, binary_data_output, t.name()))
      w.add(t, *want || !json_can_carry(t));
  w.json += "]}";
  return w.finish();
}

encoded_body encode_infer_request(const infer_request& r, bool binary_inputs) {
  body_writer w;
  w.id(r.id);
  write_parameters(w.json, r.parameters, r.binary_data_output);
  w.json += "\"inputs\":[";
  for (auto& t : r.inputs)
    w.add(t, binary_inputs || !json_can_carry(t));
  w.json += ']';
  if (!r.outputs.empty()) {
    w.json += ",\"outputs\":[";
    for (size_t i = 0; i < r.outputs.size(); ++i) {
      w.json += i ? ",{" : "{";
      write_key(w.json, "name");
      write_text(w.json, r.outputs[i].name);
      w.json += ",\"parameters\":{\"binary_data\":";
      w.json += r.outputs[i].binary_data ? "true}}" : "false}}";
    }
    w.json += ']';
  }
  w.json += '}';
  return w.finish();
}

std::string encode_server_metadata(std::string_view name,
                                   std::string_view version,
                                   const std::vector<std::string>& extensions) {
  std::string out = "{";
  write_key(out, "name");
  write_text(out, name);
  out += ",\"version\":";
  write_text(out, version);
  out += ",\"extensions\":[";
  for (size_t i = 0; i < extensions.size(); ++i) {
    if (i)
      out += ',';
    write_text(out, extensions[i]);
  }
  return out + "]}";
}

namespace {

void write_specs(std::string& out, const std::vector<tensor_spec>& specs,
                 int64_t max_batch) {
  out += '[';
  for (size_t i = 0; i < specs.size(); ++i) {
    out += i ? ",{" : "{";
    write_key(out, "name");
    write_text(out, specs[i].name);
    out += ",\"datatype\":\"";
    out += to_string(specs[i].type);
    out += "\",\"shape\":";
    write_shape(out, declared_shape(specs[i], max_batch));
    out += '}';
  }
  out += ']';
}

} // namespace

std::string encode_model_metadata(const model_signature& sig) {
  std::string out = "{";
  write_key(out, "name");
  write_text(out, sig.name);
  out += ",\"versions\":[";
  if (!sig.version.empty())
    write_text(out, sig.version);
  out += "],\"platform\":";
  write_text(out, sig.platform);
  out += ",\"inputs\":";
  write_specs(out, sig.inputs, sig.max_batch_size);
  out += ",\"outputs\":";
  write_specs(out, sig.outputs, sig.max_batch_size);
  return out + "}";
}

std::string encode_error(std::string_view message) {
  std::string out = "{\"error\":";
  write_text(out, message);
  return out + "}";
}

} // namespace actorserve::detail
