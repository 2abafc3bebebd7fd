// The v2 codec as Triton's clients use it, and dynamic batching
// (src/infer/): requests exactly as tritonclient.http sends them, outputs
// mixing binary and JSON, the metadata and error bodies, and joining
// requests along dimension 0 and cutting the response back.
#include <catch2/catch.hpp>

#include <cstring>
#include <numeric>

#include <nlohmann/json.hpp>

#include "actorserve/tensor.hpp"
#include "infer/batch.hpp"
#include "infer/v2.hpp"

using namespace actorserve;
using namespace actorserve::detail;

namespace {

/// Triton's example models "simple" and "simple_string": two inputs of 16
/// elements, batching up to 8.
model_signature simple(datatype type) {
  model_signature sig;
  sig.name = type == datatype::BYTES ? "simple_string" : "simple";
  sig.version = "1";
  sig.max_batch_size = 8;
  for (auto n : {"INPUT0", "INPUT1"})
    sig.inputs.push_back({n, type, {16}});
  for (auto n : {"OUTPUT0", "OUTPUT1"})
    sig.outputs.push_back({n, type, {16}});
  return sig;
}

std::string le32(uint32_t n) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i)
    out[i] = static_cast<char>(n >> (8 * i) & 0xFF);
  return out;
}

std::string numbers(int from, int step) {
  std::string out;
  for (int i = 0; i < 16; ++i)
    out += (i ? "," : "") + std::to_string(from + i * step);
  return out;
}

} // namespace

TEST_CASE("a request as tritonclient.http sends it in JSON decodes",
          "[tensor]") {
  // Byte for byte what tritonclient.http (2.73) sends for Triton's
  // simple_http_infer_client example with binary_data=False: compact JSON,
  // inputs as nested shape [1, 16] with flat data.
  auto body =
    R"({"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"INT32","data":[)" +
    numbers(0, 1) +
    R"(]},{"name":"INPUT1","shape":[1,16],"datatype":"INT32","data":[)" +
    numbers(1, 0) +
    R"(]}],"outputs":[{"name":"OUTPUT0","parameters":{"binary_data":false}},)"
    R"({"name":"OUTPUT1","parameters":{"binary_data":false}}]})";
  CHECK(body.size() == 324); // the client's body
  auto r = decode_infer_request(body, std::nullopt, simple(datatype::INT32));
  REQUIRE(r);
  CHECK(r->inputs[0].shape() == std::vector<int64_t>{1, 16});
  CHECK(r->inputs[0].view<int32_t>()[15] == 15);
  CHECK(r->inputs[1].view<int32_t>()[3] == 1);
  CHECK(r->outputs == std::vector<requested_output>{{"OUTPUT0", false},
                                                    {"OUTPUT1", false}});
  CHECK_FALSE(r->binary_data_output);
}

TEST_CASE("a request as tritonclient.http sends it in binary decodes",
          "[tensor]") {
  // Byte for byte what tritonclient.http (2.73) sends for Triton's
  // simple_http_string_infer_client example with binary_data=True and no
  // outputs named: the client then asks for every output as binary data,
  // and Inference-Header-Content-Length is the JSON's length.
  auto json = std::string{
    R"({"inputs":[{"name":"INPUT0","shape":[1,16],"datatype":"BYTES","parameters":{"binary_data_size":)"};
  std::string in0, in1;
  for (int i = 0; i < 16; ++i) {
    auto s = std::to_string(i);
    in0 += le32(static_cast<uint32_t>(s.size())) + s;
    in1 += le32(1) + "1";
  }
  json += std::to_string(in0.size()) +
          R"(}},{"name":"INPUT1","shape":[1,16],"datatype":"BYTES","parameters":{"binary_data_size":)" +
          std::to_string(in1.size()) +
          R"(}}],"parameters":{"binary_data_output":true}})";
  CHECK(json.size() == 231); // the client's header length
  CHECK(json.size() + in0.size() + in1.size() == 397);
  auto r = decode_infer_request(json + in0 + in1, json.size(),
                                simple(datatype::BYTES));
  REQUIRE(r);
  CHECK(r->inputs[0].strings()[10] == "10");
  CHECK(r->inputs[1].strings()[15] == "1");
  CHECK(r->binary_data_output);
  CHECK(r->outputs.empty());
  CHECK(r->parameters.empty()); // binary_data_output is the protocol's own
  // The answer, all outputs binary as asked, reads back as the client does.
  infer_response res{"simple_string", "1", "", {}, {}};
  res.outputs = {tensor::bytes("OUTPUT0", {1, 2}, {"a", "bc"}),
                 tensor::bytes("OUTPUT1", {1, 1}, {"d"})};
  auto out = encode_infer_response(res, r->outputs, r->binary_data_output);
  REQUIRE(out);
  REQUIRE(out->json_header_length);
  auto head = nlohmann::json::parse(out->body.substr(0, *out->json_header_length));
  CHECK(head["outputs"][0]["parameters"]["binary_data_size"] == 11);
  CHECK(head["outputs"][1]["parameters"]["binary_data_size"] == 5);
  CHECK_FALSE(head["outputs"][0].contains("data"));
  CHECK(out->body.substr(*out->json_header_length) ==
        le32(1) + "a" + le32(2) + "bc" + le32(1) + "d");
}

TEST_CASE("requested outputs mix binary and JSON", "[tensor]") {
  infer_response res{"simple", "1", "q", {}, {}};
  auto sums = tensor::of<int32_t>("OUTPUT0", {1, 2}, {5, 7});
  res.outputs = {sums, tensor::of<int32_t>("OUTPUT1", {1, 2}, {-1, 1})};
  auto out = encode_infer_response(res, {{"OUTPUT0", true}, {"OUTPUT1", false}},
                                   false);
  REQUIRE(out);
  REQUIRE(out->json_header_length);
  auto head = nlohmann::json::parse(out->body.substr(0, *out->json_header_length));
  CHECK(head["id"] == "q");
  CHECK(head["outputs"][0]["parameters"]["binary_data_size"] == 8);
  CHECK(head["outputs"][1]["data"] == nlohmann::json::array({-1, 1}));
  CHECK(out->body.size() == *out->json_header_length + 8);
  CHECK(std::memcmp(out->body.data() + *out->json_header_length,
                    sums.raw().data(), 8) == 0);
  // Only what was asked for goes; all JSON means no binary part.
  auto one = encode_infer_response(res, {{"OUTPUT1", false}}, true);
  REQUIRE(one);
  CHECK_FALSE(one->json_header_length);
  CHECK(nlohmann::json::parse(one->body)["outputs"].size() == 1);
  // What JSON cannot carry goes as binary data, exact.
  res.outputs = {tensor::of<float>("OUTPUT0", {1}, {std::nanf("")}),
                 tensor::bytes("OUTPUT1", {1}, {"\xFF\xFE"})};
  auto odd = encode_infer_response(res, {}, false);
  REQUIRE(odd);
  REQUIRE(odd->json_header_length);
  auto back = decode_infer_response(odd->body, odd->json_header_length);
  REQUIRE(back);
  CHECK(std::isnan(back->outputs[0].view<float>()[0]));
  CHECK(back->outputs[1].strings()[0] == "\xFF\xFE");
  // A requested output the model did not produce is the model's error.
  auto missing = encode_infer_response(res, {{"OUTPUT9", false}}, false);
  REQUIRE_FALSE(missing);
  CHECK(code_of(missing.error()) == errc::user_error);
}

TEST_CASE("the metadata and error bodies are the protocol's", "[tensor]") {
  auto server = nlohmann::json::parse(
    encode_server_metadata("actorserve", "0.1.0", {"binary_tensor_data"}));
  CHECK(server == nlohmann::json({{"name", "actorserve"},
                                  {"version", "0.1.0"},
                                  {"extensions", {"binary_tensor_data"}}}));
  auto err = nlohmann::json::parse(encode_error("input 'x\"': bad\n\xFF"));
  CHECK(err == nlohmann::json({{"error", "input 'x\"': bad\n\xEF\xBF\xBD"}}));
  auto meta = nlohmann::json::parse(encode_model_metadata(simple(datatype::FP16)));
  CHECK(meta["inputs"][1] == nlohmann::json({{"name", "INPUT1"},
                                             {"datatype", "FP16"},
                                             {"shape", {-1, 16}}}));
}

TEST_CASE("requests join along dimension 0 and responses split back",
          "[tensor]") {
  auto part = [](int rows, int base) {
    infer_request r;
    std::vector<int32_t> v(static_cast<size_t>(rows) * 2);
    std::iota(v.begin(), v.end(), base);
    std::vector<std::string> s;
    for (int i = 0; i < rows; ++i)
      s.push_back(std::string(static_cast<size_t>(i + 1), char('a' + base % 26)));
    r.inputs = {tensor::bytes("S", {rows}, s), tensor::of<int32_t>("N", {rows, 2}, v)};
    return r;
  };
  auto a = part(1, 0), b = part(3, 10), c = part(0, 20), d = part(2, 30);
  b.outputs = {{"N", true}};
  // Inputs in another order are matched by name.
  std::swap(d.inputs[0], d.inputs[1]);
  auto joined = concat_batch({&a, &b, &c, &d});
  REQUIRE(joined);
  CHECK(joined->rows == std::vector<int64_t>{1, 3, 0, 2});
  auto& in = joined->request.inputs;
  CHECK(in[0].shape() == std::vector<int64_t>{6});
  CHECK(in[1].shape() == std::vector<int64_t>{6, 2});
  CHECK(in[1].view<int32_t>()[2] == 10);
  CHECK(in[0].strings()[3] == "kkk"); // b's third row
  CHECK(joined->request.outputs.empty()); // a asked for everything
  // The model echoes its inputs; each part gets back its own rows.
  infer_response res{"m", "1", "", in, {}};
  auto parts = split_batch(res, joined->rows);
  REQUIRE(parts);
  REQUIRE(parts->size() == 4);
  for (auto [p, r] : {std::pair{0, &a}, std::pair{1, &b}, std::pair{2, &c},
                      std::pair{3, &d}}) {
    INFO("part " << p);
    CHECK((*parts)[p].model_name == "m");
    CHECK(*(*parts)[p].output("S") == *r->input("S"));
    CHECK(*(*parts)[p].output("N") == *r->input("N"));
  }
  res.outputs.push_back(tensor::of<int32_t>("bad", {5}, {1, 2, 3, 4, 5}));
  auto wrong = split_batch(res, joined->rows);
  REQUIRE_FALSE(wrong);
  CHECK(code_of(wrong.error()) == errc::user_error);
  CHECK_THAT(message_of(wrong.error()),
             Catch::Contains("output 'bad': shape [5], but the batch has 6 rows"));
}

TEST_CASE("requests that do not batch together are refused", "[tensor]") {
  infer_request a, b;
  a.inputs = {tensor::of<int32_t>("N", {1, 2}, {1, 2})};
  b.inputs = {tensor::of<int32_t>("N", {1, 3}, {1, 2, 3})};
  auto says = [](const infer_request& x, const infer_request& y) {
    auto r = concat_batch({&x, &y});
    REQUIRE_FALSE(r);
    CHECK(code_of(r.error()) == errc::bad_request);
    return message_of(r.error());
  };
  CHECK_THAT(says(a, b), Catch::Contains("part 1, input 'N': shape [1,3] "
                                         "does not batch with part 0's [1,2]"));
  b.inputs = {tensor::of<float>("N", {1, 2}, {1, 2})};
  CHECK_THAT(says(a, b), Catch::Contains("datatype FP32, part 0's is INT32"));
  b.inputs = {tensor::of<int32_t>("M", {1, 2}, {1, 2})};
  CHECK_THAT(says(a, b), Catch::Contains("part 1, input 'N': missing"));
  b.inputs = {tensor::of<int32_t>("N", {1, 2}, {1, 2}),
              tensor::of<int32_t>("M", {1}, {1})};
  CHECK_THAT(says(a, b), Catch::Contains("part 1 has 2 inputs"));
  a.inputs.push_back(tensor::of<int32_t>("M", {2}, {1, 2}));
  CHECK_THAT(says(a, b), Catch::Contains("part 0, input 'M': dimension 0 is 2, the "
                                         "part's other inputs have 1"));
  CHECK_FALSE(concat_batch({}));
}
