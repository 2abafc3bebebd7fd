// The v2 codec's checks (src/infer/v2_decode.cpp): each way a request can
// be wrong is a `bad_request` whose message names the input or field; the
// binary part must add up exactly; and no shape makes the decoder
// allocate more than the body could carry.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "actorserve/tensor.hpp"
#include "infer/v2.hpp"

using namespace actorserve;
using namespace actorserve::detail;

namespace {

model_signature signature() {
  model_signature sig;
  sig.name = "m";
  sig.version = "1";
  sig.inputs = {{"x", datatype::UINT8, {-1, 2}},
                {"TEXT", datatype::BYTES, {-1}},
                {"flag", datatype::BOOL, {1}, true}};
  sig.outputs = {{"y", datatype::FP32, {-1}}, {"z", datatype::INT64, {2}}};
  return sig;
}

std::string x(const std::string& data) {
  return R"({"name":"x","datatype":"UINT8","shape":[1,2],"data":)" + data + "}";
}

std::string text(const std::string& data = R"(["a"])") {
  return R"({"name":"TEXT","datatype":"BYTES","shape":[1],"data":)" + data +
         "}";
}

std::string with_inputs(const std::string& inputs, const std::string& rest = "") {
  return R"({"inputs":[)" + inputs + "]" + rest + "}";
}

/// The error message of decoding `body`, or "" when it decodes.
std::string error_of(const std::string& body,
                     std::optional<size_t> header = std::nullopt) {
  auto r = decode_infer_request(body, header, signature());
  if (r)
    return "";
  CHECK(code_of(r.error()) == errc::bad_request);
  return message_of(r.error());
}

std::string le32(uint32_t n) {
  return {static_cast<char>(n & 0xFF), static_cast<char>(n >> 8 & 0xFF),
          static_cast<char>(n >> 16 & 0xFF), static_cast<char>(n >> 24)};
}

} // namespace

TEST_CASE("a valid request decodes, wildcards and optional inputs allowed",
          "[tensor]") {
  auto r = decode_infer_request(
    with_inputs(x("[[1,2]]") + "," + text(R"(["héllo"])"),
                R"(,"id":"q","outputs":[{"name":"y"}])"),
    std::nullopt, signature());
  REQUIRE(r);
  CHECK(r->id == "q");
  CHECK(r->inputs.size() == 2);
  CHECK(r->inputs[1].strings()[0] == "héllo");
  CHECK(r->outputs == std::vector<requested_output>{{"y", false}});
  // -1 takes any size: 3 rows of x, 0 strings.
  CHECK(error_of(with_inputs(
          std::string{R"({"name":"x","datatype":"UINT8","shape":[3,2],"data":[1,2,3,4,5,6]},)"} +
          R"({"name":"TEXT","datatype":"BYTES","shape":[0],"data":[]})")) == "");
}

TEST_CASE("each way a request is wrong names its field", "[tensor]") {
  struct wrong {
    std::string body;
    std::string says;
  };
  std::vector<wrong> cases{
    {"[1]", "not a JSON object"},
    {"{\"inputs\":", "not JSON"},
    {std::string(300, '[') + std::string(300, ']'), "deeper than 256"},
    {"{}", "'inputs' must be an array"},
    {with_inputs(x("[1,2]")), "input 'TEXT' is missing"},
    {with_inputs(x("[1,2]") + "," + text() + "," + text()),
     "input 'TEXT' appears twice"},
    {with_inputs(x("[1,2]") + "," + text() +
                 R"(,{"name":"w","datatype":"BOOL","shape":[1],"data":[true]})"),
     "unexpected input 'w' for model 'm'"},
    {with_inputs(R"({"name":"x","datatype":"INT8","shape":[1,2],"data":[1,2]},)" +
                 text()),
     "input 'x': datatype INT8, but the model expects UINT8"},
    {with_inputs(R"({"name":"x","datatype":"uint8","shape":[1,2],"data":[1,2]})"),
     "input 'x': unknown datatype 'uint8'"},
    {with_inputs(R"({"name":"x","datatype":"UINT8","shape":[1,3],"data":[1,2,3]})"),
     "input 'x': shape [1,3] does not match the model's [-1,2]"},
    {with_inputs(R"({"name":"x","datatype":"UINT8","shape":[1,-2],"data":[]})"),
     "input 'x': 'shape' must hold integers >= 0"},
    {with_inputs(R"({"datatype":"UINT8","shape":[1],"data":[1]})"),
     "inputs[0]: 'name' must be a string"},
    {with_inputs(x("[1,300]") + "," + text()),
     "input 'x': data[1]: 300 is out of range for UINT8"},
    {with_inputs(x("[-1,3]") + "," + text()),
     "input 'x': data[0]: -1 is out of range for UINT8"},
    {with_inputs(x("[1,2.7]") + "," + text()),
     "input 'x': data[1] must be an integer (UINT8)"},
    {with_inputs(x("[1,2.0]") + "," + text()),
     "input 'x': data[1] must be an integer (UINT8)"},
    {with_inputs(x("[1,\"2\"]") + "," + text()),
     "input 'x': data[1] must be an integer (UINT8)"},
    {with_inputs(x("[1]") + "," + text()),
     "input 'x': 'data' has 1 elements but its shape holds 2"},
    {with_inputs(x("[1,2]") + "," + text("[7]")),
     "input 'TEXT': data[0] must be a string (BYTES)"},
    {with_inputs(x("[1,2]") + "," + text() +
                 R"(,{"name":"flag","datatype":"BOOL","shape":[1],"data":[1]})"),
     "input 'flag': data[0] must be true or false (BOOL)"},
    {with_inputs(R"({"name":"x","datatype":"UINT8","shape":[1,2]},)" + text()),
     "input 'x': has neither 'data' nor binary_data_size"},
    {with_inputs(x("[1,2]") + "," + text(), R"(,"outputs":[{"name":"q"}])"),
     "unexpected output 'q' requested of model 'm'"},
    {with_inputs(x("[1,2]") + "," + text(),
                 R"(,"outputs":[{"name":"y"},{"name":"y"}])"),
     "output 'y' is requested twice"},
    {with_inputs(x("[1,2]") + "," + text(),
                 R"(,"outputs":[{"name":"y","parameters":{"binary_data":1}}])"),
     "output 'y': 'binary_data' must be true or false"},
    {with_inputs(x("[1,2]") + "," + text(),
                 R"(,"outputs":[{"name":"y","parameters":{"classification":2}}])"),
     "output 'y': classification is not supported"},
    {with_inputs(x("[1,2]") + "," + text(), R"(,"id":7)"),
     "'id' must be a string"},
    {with_inputs(x("[1,2]") + "," + text(), R"(,"parameters":{"k":[1]})"),
     "parameters.k must be a bool, a finite number or a string"},
    {with_inputs(x("[1,2]") + "," + text(),
                 R"(,"parameters":{"binary_data_output":"yes"})"),
     "parameters.binary_data_output must be true or false"},
  };
  for (auto& c : cases) {
    INFO(c.body.substr(0, 200));
    CHECK_THAT(error_of(c.body), Catch::Contains(c.says));
  }
}

TEST_CASE("an input's keys may come in any order", "[tensor]") {
  // The reader keeps `data` aside before it knows the datatype and shape.
  auto r = decode_infer_request(
    R"({"outputs":[{"name":"z"}],"inputs":[{"data":[[7,8]],"shape":[1,2],)"
    R"("name":"x","datatype":"UINT8"},{"data":["a\u00e9\"",""],)"
    R"("datatype":"BYTES","name":"TEXT","shape":[2]}],"id":"k"})",
    std::nullopt, signature());
  REQUIRE(r);
  CHECK(r->inputs[0].view<uint8_t>()[1] == 8);
  CHECK(r->inputs[1].strings() ==
        std::vector<std::string_view>{"a\xC3\xA9\"", ""});
  CHECK(r->id == "k");
  CHECK(r->outputs == std::vector<requested_output>{{"z", false}});
  CHECK_THAT(error_of(with_inputs(x("[{\"a\":[1]},2]") + "," + text())),
             Catch::Contains("input 'x': data[0] must be an integer (UINT8)"));
  CHECK_THAT(error_of(with_inputs(x("[1,null]") + "," + text())),
             Catch::Contains("input 'x': data[1] must be an integer (UINT8)"));
  CHECK_THAT(error_of(with_inputs(x("7") + "," + text())),
             Catch::Contains("input 'x': 'data' must be an array"));
  CHECK_THAT(error_of(with_inputs(x("{\"data\":[1,2]}") + "," + text())),
             Catch::Contains("input 'x': 'data' must be an array"));
}

TEST_CASE("floats out of their type's range are refused", "[tensor]") {
  model_signature sig{"m", "", "", {{"f", datatype::FP32, {1}},
                                    {"h", datatype::FP16, {1}}}, {}, 0};
  auto body = [](const char* f, const char* h) {
    return std::string{R"({"inputs":[{"name":"f","datatype":"FP32","shape":[1],"data":[)"} +
           f + R"(]},{"name":"h","datatype":"FP16","shape":[1],"data":[)" + h +
           "]}]}";
  };
  CHECK(decode_infer_request(body("1e38", "65504"), {}, sig));
  auto big = decode_infer_request(body("1e39", "1"), {}, sig);
  REQUIRE_FALSE(big);
  CHECK_THAT(message_of(big.error()), Catch::Contains("input 'f': data[0]"));
  auto half = decode_infer_request(body("1", "70000"), {}, sig);
  REQUIRE_FALSE(half);
  CHECK_THAT(message_of(half.error()),
             Catch::Contains("input 'h': data[0]: 70000 is out of range for FP16"));
}

TEST_CASE("binary data must add up to the body exactly", "[tensor]") {
  auto head = with_inputs(
    R"({"name":"x","datatype":"UINT8","shape":[1,2],"parameters":{"binary_data_size":2}},)"
    R"({"name":"TEXT","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":10}})");
  auto strings = le32(1) + "a" + le32(1) + "b";
  auto ok = decode_infer_request(head + "\x01\x02" + strings, head.size(),
                                 signature());
  REQUIRE(ok);
  CHECK(ok->inputs[0].view<uint8_t>()[1] == 2);
  CHECK(ok->inputs[1].strings() == std::vector<std::string_view>{"a", "b"});
  CHECK_THAT(error_of(head + "\x01\x02" + strings + "!", head.size()),
             Catch::Contains("add up to 12 bytes but 13 follow the JSON header"));
  CHECK_THAT(error_of(head + "\x01\x02" + strings.substr(1), head.size()),
             Catch::Contains("input 'TEXT': binary_data_size 10 runs past"));
  CHECK_THAT(error_of(head + "\x01\x02" + strings, head.size() + 100),
             Catch::Contains("Inference-Header-Content-Length is"));
  // Without the header the binary part is read as JSON, which it is not.
  CHECK_THAT(error_of(head + "\x01\x02" + strings), Catch::Contains("not JSON"));
  // A fixed-size tensor's size must be its shape's.
  auto three = with_inputs(
    R"({"name":"x","datatype":"UINT8","shape":[1,2],"parameters":{"binary_data_size":3}},)" +
    text());
  CHECK_THAT(error_of(three + "abc", three.size()),
             Catch::Contains("input 'x': binary_data_size 3 does not match "
                             "shape [1,2] of UINT8 (2 bytes)"));
  auto both = with_inputs(
    R"({"name":"x","datatype":"UINT8","shape":[1,2],"data":[1,2],"parameters":{"binary_data_size":2}})");
  CHECK_THAT(error_of(both + "ab", both.size()),
             Catch::Contains("input 'x': has both 'data' and binary_data_size"));
}

TEST_CASE("BYTES length prefixes must stay inside the tensor's data",
          "[tensor]") {
  auto head = [](size_t size) {
    return with_inputs(
      R"({"name":"x","datatype":"UINT8","shape":[1,2],"data":[1,2]},)"
      R"({"name":"TEXT","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":)" +
      std::to_string(size) + "}}");
  };
  for (auto data : {le32(1) + "a" + le32(100) + "bc", // past the end
                    le32(1) + "a" + le32(0) + "x",    // one byte left over
                    le32(1) + "a" + le32(0) + le32(0), // a third element
                    le32(0xFFFFFFFFu) + "abcd",       // a huge prefix
                    le32(1) + "a" + std::string("\0\0", 2)}) { // a cut prefix
    auto h = head(data.size());
    CHECK_THAT(error_of(h + data, h.size()),
               Catch::Contains("input 'TEXT': its BYTES data is not 2 "
                               "length-prefixed elements"));
  }
}

TEST_CASE("huge shapes are refused before anything is allocated", "[tensor]") {
  // Were the decoder to size these tensors from their shapes, it would ask
  // for petabytes and throw std::bad_alloc instead of answering.
  model_signature sig{"m", "", "", {{"big", datatype::FP64, {-1}}}, {}, 0};
  auto json = R"({"inputs":[{"name":"big","datatype":"FP64","shape":[1000000000000000],"data":[1]}]})";
  auto r = decode_infer_request(json, std::nullopt, sig);
  REQUIRE_FALSE(r);
  CHECK_THAT(message_of(r.error()),
             Catch::Contains("holds 1000000000000000 elements, more than its "
                             "'data' could"));
  auto bin = std::string{
    R"({"inputs":[{"name":"big","datatype":"FP64","shape":[1000000000000000],)"
    R"("parameters":{"binary_data_size":8000000000000000}}]})"};
  r = decode_infer_request(bin + "12345678", bin.size(), sig);
  REQUIRE_FALSE(r);
  CHECK_THAT(message_of(r.error()), Catch::Contains("runs past the end"));
  model_signature sig2{"m", "", "", {{"big", datatype::FP64, {-1, -1, -1}}}, {}, 0};
  auto product = R"({"inputs":[{"name":"big","datatype":"FP64","shape":[4294967296,4294967296,4294967296],"data":[]}]})";
  r = decode_infer_request(product, std::nullopt, sig2);
  REQUIRE_FALSE(r);
  CHECK_THAT(message_of(r.error()), Catch::Contains("holds too many elements"));
  auto bytes = std::string{
    R"({"inputs":[{"name":"TEXT","datatype":"BYTES","shape":[100000000000],)"
    R"("parameters":{"binary_data_size":8}}]})"};
  model_signature sig3{"m", "", "", {{"TEXT", datatype::BYTES, {-1}}}, {}, 0};
  r = decode_infer_request(bytes + le32(0) + le32(0), bytes.size(), sig3);
  REQUIRE_FALSE(r);
  CHECK_THAT(message_of(r.error()), Catch::Contains("its BYTES data is not"));
}

TEST_CASE("a batching model takes a batch dimension up to its maximum",
          "[tensor]") {
  model_signature sig{"m", "1", "p", {{"a", datatype::INT32, {3}},
                                      {"b", datatype::INT32, {-1}}},
                      {{"o", datatype::FP32, {3}}}, 4};
  auto body = [](int rows_a, int rows_b) {
    auto t = [](const char* n, int rows, int cols) {
      return std::string{R"({"name":")"} + n + R"(","datatype":"INT32","shape":[)" +
             std::to_string(rows) + "," + std::to_string(cols) +
             R"(],"data":[)" +
             [&] {
               std::string s;
               for (int i = 0; i < rows * cols; ++i)
                 s += (i ? ",0" : "0");
               return s;
             }() + "]}";
    };
    return "{\"inputs\":[" + t("a", rows_a, 3) + "," + t("b", rows_b, 5) + "]}";
  };
  CHECK(decode_infer_request(body(2, 2), {}, sig));
  CHECK(decode_infer_request(body(4, 4), {}, sig));
  for (auto [a, b, says] : {std::tuple{5, 5, "(batch up to 4)"},
                            std::tuple{0, 0, "shape [0,3] does not match"},
                            std::tuple{2, 3, "input 'b': batch size 3, but "
                                             "another input's is 2"}}) {
    auto r = decode_infer_request(body(a, b), {}, sig);
    REQUIRE_FALSE(r);
    CHECK_THAT(message_of(r.error()), Catch::Contains(says));
  }
  auto meta = nlohmann::json::parse(encode_model_metadata(sig));
  CHECK(meta["name"] == "m");
  CHECK(meta["versions"] == nlohmann::json::array({"1"}));
  CHECK(meta["platform"] == "p");
  CHECK(meta["inputs"][0] ==
        nlohmann::json({{"name", "a"}, {"datatype", "INT32"}, {"shape", {-1, 3}}}));
  CHECK(meta["outputs"][0]["shape"] == nlohmann::json::array({-1, 3}));
}
