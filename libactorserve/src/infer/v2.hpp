/// @file
/// The Open Inference Protocol's REST bodies ("KServe v2", as Triton,
/// KServe and MLServer speak it): decoding an infer request (JSON, and the
/// binary tensor data extension's JSON header plus binary part) checked
/// against a model's signature, encoding the response, the metadata bodies
/// and the error body.
///
/// Hostile input: nothing a body says makes us allocate more than a small
/// multiple of its size (a shape is checked against the bytes that could
/// carry it before anything is allocated, and products of dimensions for
/// overflow); JSON deeper than `max_json_depth` is refused before it is
/// parsed. Every error is `errc::bad_request` whose message names the input
/// or field (`input 'x': data[3]: ...`); `encode_error` makes it the
/// protocol's `{"error": "..."}` body.
///
/// Binary inputs are copied once, into the tensor; the tensor owns its data
/// and never points into the body.
///
/// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "actorserve/tensor.hpp"

namespace actorserve::detail {

/// The HTTP header that says where a body's JSON part ends.
constexpr std::string_view inference_header = "Inference-Header-Content-Length";

/// A body to send: its JSON part is the first `json_header_length` bytes
/// when that is set (some tensor went as binary data), else all of it.
struct encoded_body {
  std::string body;
  std::optional<size_t> json_header_length;
};

/// Decodes `POST /v2/models/<m>/infer`'s body. `json_header_length` is the
/// `Inference-Header-Content-Length` header, when given. Checks the inputs
/// against `sig` (names, none twice, none missing unless optional,
/// datatypes, shapes with -1 wildcards and the batch dimension, data
/// sizes) and the requested outputs (known names, none twice).
caf::expected<infer_request>
decode_infer_request(std::string_view body,
                     std::optional<size_t> json_header_length,
                     const model_signature& sig);

/// Decodes a response body (what a client reads): outputs in JSON or as
/// binary data, checked against their own shapes.
caf::expected<infer_response>
decode_infer_response(std::string_view body,
                      std::optional<size_t> json_header_length);

/// Encodes a response. With `requested` empty, every output goes, as
/// `binary_data_output` says; else only the requested ones, in the
/// response's order, each as its `binary_data` says (one the response
/// lacks is an error). An output that JSON cannot carry (a NaN or infinite
/// float, BYTES that are not UTF-8) goes as binary data whatever was asked:
/// it stays exact, and Triton's clients read binary outputs unasked.
caf::expected<encoded_body>
encode_infer_response(const infer_response& r,
                      const std::vector<requested_output>& requested,
                      bool binary_data_output);

/// Encodes a request as a client would (inputs as binary data when
/// `binary_inputs`, else in JSON but for those JSON cannot carry).
encoded_body encode_infer_request(const infer_request& r, bool binary_inputs);

/// `GET /v2`: `{"name","version","extensions":[...]}`.
std::string encode_server_metadata(std::string_view name,
                                   std::string_view version,
                                   const std::vector<std::string>& extensions);

/// `GET /v2/models/<m>[/versions/<v>]`: name, versions, platform, inputs
/// and outputs (with the batch dimension as -1 when the model batches).
std::string encode_model_metadata(const model_signature& sig);

/// The protocol's error body, `{"error": "<message>"}`.
std::string encode_error(std::string_view message);

} // namespace actorserve::detail
