// The Open Inference Protocol's REST bodies (src/infer/): an infer request
// in JSON or with binary tensor data, decoded against a fixed signature.
// Whatever the bytes, decoding fails with a `bad_request` naming what is
// wrong, or gives tensors whose data matches their shapes; a decoded
// request encodes (JSON and binary) and decodes again the same; echoed as
// a response it reads back the same; and, for the batching signature, two
// copies join along dimension 0 and split back into themselves.
//
// Input: a mode byte (bit 0: the batching signature; bit 1: build the
// request from the bytes instead of decoding them), then either two bytes
// of Inference-Header-Content-Length (big-endian; 0xFFFF: no header) and
// the body, or the bytes a request is built from: any valid request, NaN
// payloads, subnormal halves and strings that are not UTF-8 included,
// must survive the encoder and the decoder unchanged.
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "base/text.hpp"
#include "check.hpp"
#include "infer/batch.hpp"
#include "infer/json_reader.hpp"
#include "infer/tensor_access.hpp"
#include "infer/v2.hpp"

using namespace actorserve;
using namespace actorserve::detail;

namespace {

model_signature signature(bool batching) {
  model_signature sig;
  sig.name = "m";
  sig.max_batch_size = batching ? 4 : 0;
  sig.inputs = {{"x", datatype::UINT8, {-1, 2}},
                {"TEXT", datatype::BYTES, {-1}},
                {"flag", datatype::BOOL, {1}, true},
                {"f", datatype::FP32, {-1}, true},
                {"h", datatype::FP16, {-1}, true},
                {"d", datatype::FP64, {-1}, true},
                {"i", datatype::INT64, {-1, -1}, true},
                {"u", datatype::UINT64, {-1}, true},
                {"s", datatype::INT16, {-1}, true}};
  sig.outputs = sig.inputs;
  return sig;
}

void check_tensor(const tensor& t) {
  auto n = element_count(t.shape());
  fuzz::require(n && *n == t.size(), "a tensor holds what its shape says");
  auto raw = t.raw();
  if (t.type() == datatype::BYTES) {
    fuzz::require(valid_bytes_data(raw.data(), raw.size(), t.size()),
                  "BYTES data is its elements, each inside it");
    fuzz::require(t.strings().size() == t.size(), "one string an element");
  } else {
    fuzz::require(raw.size() == t.size() * element_size(t.type()),
                  "fixed-size data is elements times their size");
  }
  if (t.type() == datatype::BOOL)
    for (auto b : raw)
      fuzz::require(static_cast<uint8_t>(b) <= 1, "BOOL bytes are 0 or 1");
}

void check_round_trips(const infer_request& req, const model_signature& sig) {
  for (bool binary : {false, true}) {
    auto body = encode_infer_request(req, binary);
    auto back = decode_infer_request(body.body, body.json_header_length, sig);
    fuzz::require(static_cast<bool>(back), "an encoded request decodes",
                  back ? std::string_view{} : message_of(back.error()));
    fuzz::require(*back == req, "a request round-trips unchanged");
  }
  infer_response res{"m", "1", req.id, req.inputs, req.parameters};
  auto body = encode_infer_response(res, {}, req.binary_data_output);
  fuzz::require(static_cast<bool>(body), "an echo of the inputs encodes");
  auto back = decode_infer_response(body->body, body->json_header_length);
  fuzz::require(static_cast<bool>(back), "an encoded response decodes");
  fuzz::require(*back == res, "a response round-trips unchanged");
}

void check_batching(const infer_request& req) {
  auto joined = concat_batch({&req, &req});
  fuzz::require(static_cast<bool>(joined), "a request batches with itself");
  fuzz::require(joined->rows.size() == 2 && joined->rows[0] == joined->rows[1],
                "both copies bring the same rows");
  infer_response res{"m", "1", "", joined->request.inputs, {}};
  auto parts = split_batch(res, joined->rows);
  fuzz::require(static_cast<bool>(parts), "a batch's echo splits");
  for (auto& p : *parts)
    fuzz::require(p.outputs == req.inputs, "each part gets its own rows back");
}

/// The JSON a tape stands for, from `pos` (moved past it); an object or
/// null on the tape is null.
nlohmann::json from_tape(const data_tape& t, size_t& pos) {
  auto& v = t.tokens.at(pos++);
  switch (v.type) {
    case data_token::kind::array: {
      auto out = nlohmann::json::array();
      for (uint64_t i = 0; i < v.value; ++i)
        out.push_back(from_tape(t, pos));
      return out;
    }
    case data_token::kind::boolean: return v.value != 0;
    case data_token::kind::integer: return static_cast<int64_t>(v.value);
    case data_token::kind::unsigned_integer: return v.value;
    case data_token::kind::floating: {
      double d;
      std::memcpy(&d, &v.value, sizeof d);
      return d;
    }
    case data_token::kind::string: return t.text.substr(v.value, v.length);
    default: return nullptr;
  }
}

nlohmann::json objects_as_null(const nlohmann::json& j) {
  if (j.is_object())
    return nullptr;
  if (!j.is_array())
    return j;
  auto out = nlohmann::json::array();
  for (auto& x : j)
    out.push_back(objects_as_null(x));
  return out;
}

/// The SAX reader accepts exactly what nlohmann's DOM parser accepts, and
/// its DOM with the tapes put back is that parser's (objects inside a
/// tensor's data aside, which the reader leaves out).
void check_reader(std::string_view text) {
  read_json got;
  bool ok = read_json_text(text, "inputs", got);
  auto want = parse_json_text(text);
  fuzz::require(ok == !want.is_discarded(),
                "the SAX reader accepts what the DOM parser accepts", text);
  if (!ok || !got.dom.is_object() || !got.dom.contains("inputs") ||
      !got.dom["inputs"].is_array())
    return;
  for (auto& in : got.dom["inputs"])
    if (in.is_object() && in.contains("data") && in["data"].is_binary()) {
      size_t pos = 0;
      auto& tape = got.tapes.at(in["data"].get_binary().subtype());
      in["data"] = from_tape(tape, pos);
      fuzz::require(pos == tape.tokens.size(), "a tape holds one value");
    }
  for (auto& in : want["inputs"])
    if (in.is_object() && in.contains("data"))
      in["data"] = objects_as_null(in["data"]);
  fuzz::require(got.dom == want, "the SAX reader reads what the DOM parser does",
                text);
}

/// A tensor for `spec`, its dimensions (after `batch`, when > 0) and data
/// from the input.
tensor build_tensor(fuzz::input& in, const tensor_spec& spec, int64_t batch) {
  std::vector<int64_t> shape;
  if (batch > 0)
    shape.push_back(batch);
  for (auto d : spec.shape)
    shape.push_back(d == -1 ? in.byte() % 5 : d);
  auto count = *element_count(shape);
  std::vector<std::byte> data;
  if (spec.type == datatype::BYTES) {
    for (size_t i = 0; i < count; ++i) {
      std::string s;
      for (size_t n = in.byte() % 8; n > 0; --n)
        s.push_back(static_cast<char>(in.byte()));
      append_bytes_element(data, s);
    }
  } else {
    for (size_t i = 0; i < count * element_size(spec.type); ++i)
      data.push_back(std::byte(in.byte() & (spec.type == datatype::BOOL ? 1 : 0xFF)));
  }
  return tensor_access::make(spec.name, spec.type, std::move(shape), count,
                             std::move(data));
}

infer_request build_request(fuzz::input& in, const model_signature& sig) {
  infer_request req;
  auto flags = in.byte();
  req.binary_data_output = flags & 1;
  int64_t batch = sig.max_batch_size > 0 ? 1 + in.byte() % sig.max_batch_size : 0;
  for (auto& spec : sig.inputs)
    if (!spec.optional || (in.byte() & 1))
      req.inputs.push_back(build_tensor(in, spec, batch));
  for (auto& spec : sig.outputs) {
    auto b = in.byte();
    if (b & 1)
      req.outputs.push_back({spec.name, (b & 2) != 0});
  }
  if (flags & 2) {
    int64_t n = 0;
    for (int i = 0; i < 8; ++i)
      n = static_cast<int64_t>(static_cast<uint64_t>(n) << 8 | in.byte());
    req.parameters["n"] = n;
    double d = 0;
    std::memcpy(&d, &n, sizeof d);
    if (std::isfinite(d))
      req.parameters["d"] = d;
  }
  req.parameters["s"] = to_valid_utf8(in.field());
  req.id = to_valid_utf8(in.field());
  return req;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::input in{data, size};
  auto mode = in.byte();
  bool batching = mode & 1;
  if (mode & 2) {
    auto sig = signature(batching);
    auto req = build_request(in, sig);
    check_round_trips(req, sig);
    if (batching)
      check_batching(req);
    return 0;
  }
  size_t header = size_t{in.byte()} << 8;
  header |= in.byte();
  auto body = in.rest();
  std::optional<size_t> header_length;
  if (header != 0xFFFF)
    header_length = header;
  check_reader(std::string_view{body}.substr(0, header_length.value_or(body.size())));
  auto sig = signature(batching);
  auto req = decode_infer_request(body, header_length, sig);
  if (!req) {
    fuzz::require(code_of(req.error()) == errc::bad_request,
                  "a body's errors are bad_request");
    auto msg = message_of(req.error());
    fuzz::require(!msg.empty(), "an error says what is wrong");
    auto j = nlohmann::json::parse(encode_error(msg), nullptr, false);
    fuzz::require(j.is_object() && j["error"].is_string(),
                  "the error body is the protocol's");
    return 0;
  }
  for (auto& t : req->inputs)
    check_tensor(t);
  check_round_trips(*req, sig);
  if (batching && !req->inputs.empty())
    check_batching(*req);
  return 0;
}
