// Tensors and the v2 codec's round trips (src/infer/): datatypes, half
// floats, builders and typed views, and every datatype through the
// protocol's JSON and binary bodies, requests and responses.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "actorserve/tensor.hpp"
#include "infer/v2.hpp"

using namespace actorserve;
using namespace actorserve::detail;

namespace {

/// One tensor of each datatype, with the extremes of its range.
std::vector<tensor> every_datatype() {
  using i64 = std::numeric_limits<int64_t>;
  using u64 = std::numeric_limits<uint64_t>;
  return {
    tensor::of<bool>("b", {3}, {true, false, true}),
    tensor::of<uint8_t>("u8", {3}, {0, 7, 255}),
    tensor::of<uint16_t>("u16", {2}, {0, 65535}),
    tensor::of<uint32_t>("u32", {2}, {0, 4294967295u}),
    tensor::of<uint64_t>("u64", {2}, {0, u64::max()}),
    tensor::of<int8_t>("i8", {2}, {-128, 127}),
    tensor::of<int16_t>("i16", {2}, {-32768, 32767}),
    tensor::of<int32_t>("i32", {2, 2}, {-2147483647 - 1, 2147483647, 0, -1}),
    tensor::of<int64_t>("i64", {2}, {i64::min(), i64::max()}),
    tensor::of<fp16>("f16", {4}, {to_fp16(1.5f), to_fp16(-65504.f),
                                  to_fp16(5.96e-8f), fp16{0x8000}}),
    tensor::of<float>("f32", {4}, {0.1f, -3.4028235e38f, 1.17549435e-38f,
                                   -0.f}),
    tensor::of<double>("f64", {3}, {0.1, -1.7976931348623157e308, 5e-324}),
    tensor::bytes("s", {1, 3}, {"", "two\"\\\n", "\xC3\xA9t\xC3\xA9"}),
  };
}

model_signature signature_of(const std::vector<tensor>& inputs) {
  model_signature sig;
  sig.name = "m";
  for (auto& t : inputs) {
    sig.inputs.push_back({t.name(), t.type(), t.shape()});
    sig.outputs.push_back({t.name(), t.type(), t.shape()});
  }
  return sig;
}

} // namespace

TEST_CASE("datatypes have their wire names and element sizes", "[tensor]") {
  CHECK(std::string{to_string(datatype::FP32)} == "FP32");
  CHECK(std::string{to_string(datatype::BYTES)} == "BYTES");
  CHECK(datatype_from("UINT16") == datatype::UINT16);
  CHECK(datatype_from("BOOL") == datatype::BOOL);
  CHECK_FALSE(datatype_from("int32")); // names are case-sensitive
  CHECK_FALSE(datatype_from("BF16"));
  CHECK(element_size(datatype::BOOL) == 1);
  CHECK(element_size(datatype::FP16) == 2);
  CHECK(element_size(datatype::INT64) == 8);
  CHECK(element_size(datatype::BYTES) == 0);
  for (int i = 0; i <= static_cast<int>(datatype::BYTES); ++i) {
    auto d = static_cast<datatype>(i);
    CHECK(datatype_from(to_string(d)) == d);
  }
}

TEST_CASE("halves convert exactly and round to nearest even", "[tensor]") {
  CHECK(to_fp16(1.0f).bits == 0x3C00);
  CHECK(to_fp16(-2.0f).bits == 0xC000);
  CHECK(to_fp16(65504.f).bits == 0x7BFF);             // the largest half
  CHECK(to_fp16(65520.f).bits == 0x7C00);             // rounds up to infinity
  CHECK(to_fp16(std::ldexp(1.f, -24)).bits == 0x0001); // the least subnormal
  CHECK(to_fp16(std::ldexp(1.f, -26)).bits == 0x0000); // below half of it
  CHECK(to_fp16(2049.f).bits == to_fp16(2048.f).bits); // tie: to even
  CHECK(to_fp16(2051.f).bits == to_fp16(2052.f).bits);
  CHECK(std::isnan(to_float(to_fp16(std::nanf("")))));
  CHECK(to_float(fp16{0x3555}) == Approx(0.33325195f));
  // Every half goes to a float and back unchanged, NaN payloads included.
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    fp16 x{static_cast<uint16_t>(h)};
    if (to_fp16(to_float(x)).bits != x.bits)
      FAIL("half " << h << " did not round-trip");
  }
}

TEST_CASE("element counts refuse negative and overflowing shapes", "[tensor]") {
  CHECK(element_count({}) == 1u);
  CHECK(element_count({2, 3, 4}) == 24u);
  CHECK(element_count({-1, 3}) == std::nullopt);
  CHECK(element_count({int64_t{1} << 40, int64_t{1} << 40}) == std::nullopt);
  // A 0 dimension empties the tensor whatever the others say.
  CHECK(element_count({int64_t{1} << 62, 0, int64_t{1} << 62}) == 0u);
}

TEST_CASE("tensors give typed views, checked", "[tensor]") {
  auto t = tensor::of<int32_t>("x", {2, 2}, {1, 2, 3, 4});
  CHECK(t.size() == 4);
  CHECK(t.raw().size() == 16);
  auto v = t.view<int32_t>();
  CHECK(std::vector<int32_t>(v.begin(), v.end()) ==
        std::vector<int32_t>{1, 2, 3, 4});
  try {
    (void) t.view<float>();
    FAIL("a view of the wrong type must throw");
  } catch (const error_exception& e) {
    CHECK(e.code() == errc::user_error);
    CHECK(std::string{e.what()}.find("INT32") != std::string::npos);
  }
  CHECK_THROWS_AS(t.strings(), error_exception);
  auto out = tensor::zeros("y", datatype::FP32, {3});
  for (auto& x : out.mutable_view<float>())
    x = 2.5f;
  CHECK(out.view<float>()[2] == 2.5f);
  CHECK_THROWS_AS(tensor::of<int32_t>("z", {3}, {1, 2}), error_exception);
  CHECK_THROWS_AS(tensor::zeros("z", datatype::INT8, {-1}), error_exception);
  auto s = tensor::bytes("s", {2}, {"a", std::string("\0b", 2)});
  CHECK(s.raw().size() == 4 + 1 + 4 + 2);
  CHECK(s.strings() == std::vector<std::string_view>{"a", {"\0b", 2}});
  auto empty = tensor::zeros("e", datatype::BYTES, {2});
  CHECK(empty.strings() == std::vector<std::string_view>{"", ""});
  CHECK(tensor::of<uint8_t>("p", {1}, {1}) != tensor::of<uint8_t>("p", {1}, {2}));
}

TEST_CASE("every datatype round-trips through JSON and binary requests",
          "[tensor]") {
  infer_request req;
  req.id = "r-1";
  req.inputs = every_datatype();
  req.parameters = {{"n", int64_t{-3}}, {"x", 0.25}, {"on", true},
                    {"s", std::string{"t"}}};
  auto sig = signature_of(req.inputs);
  for (bool binary : {false, true}) {
    auto body = encode_infer_request(req, binary);
    CHECK(body.json_header_length.has_value() == binary);
    auto back = decode_infer_request(body.body, body.json_header_length, sig);
    REQUIRE(back);
    CHECK(*back == req);
    CHECK(back->inputs[9].view<fp16>()[3].bits == 0x8000); // -0 stays -0
    CHECK(std::signbit(back->inputs[10].view<float>()[3]));
    CHECK(back->input("s")->strings()[1] == "two\"\\\n");
  }
}

TEST_CASE("every datatype round-trips through JSON and binary responses",
          "[tensor]") {
  infer_response res;
  res.model_name = "m";
  res.model_version = "2";
  res.id = "r-1";
  res.outputs = every_datatype();
  for (bool binary : {false, true}) {
    auto body = encode_infer_response(res, {}, binary);
    REQUIRE(body);
    CHECK(body->json_header_length.has_value() == binary);
    auto back = decode_infer_response(body->body, body->json_header_length);
    REQUIRE(back);
    CHECK(*back == res);
  }
  // JSON data is flat and row major, as Triton writes it.
  auto body = encode_infer_response(res, {{"i32", false}}, false);
  REQUIRE(body);
  auto j = nlohmann::json::parse(body->body);
  CHECK(j["outputs"].size() == 1);
  CHECK(j["outputs"][0]["shape"] == nlohmann::json::array({2, 2}));
  CHECK(j["outputs"][0]["data"] ==
        nlohmann::json::array({-2147483648LL, 2147483647, 0, -1}));
  CHECK(j["model_version"] == "2");
}

TEST_CASE("JSON data may be nested row major or flat", "[tensor]") {
  model_signature sig{"m", "1", "x", {{"x", datatype::INT16, {2, 3}}}, {}, 0};
  auto body = [](const char* data) {
    return std::string{R"({"inputs":[{"name":"x","datatype":"INT16",)"
                       R"("shape":[2,3],"data":)"} + data + "}]}";
  };
  auto flat = decode_infer_request(body("[1,2,3,4,5,6]"), {}, sig);
  auto nested = decode_infer_request(body("[[1,2,3],[4,5,6]]"), {}, sig);
  REQUIRE(flat);
  REQUIRE(nested);
  CHECK(*flat == *nested);
  CHECK(nested->inputs[0].view<int16_t>()[3] == 4);
  for (auto wrong : {"[[1,2],[3,4],[5,6]]", "[[1,2,3],[4,5]]", "[[1,2,3],4]",
                     "[[1,2,3],[4,5,[6]]]", "[1,2,3,4,5]", "[[[1,2,3]],[[4,5,6]]]",
                     "{\"a\":1}"}) {
    auto r = decode_infer_request(body(wrong), {}, sig);
    REQUIRE_FALSE(r);
    CHECK(message_of(r.error()).find("input 'x'") != std::string::npos);
  }
}
