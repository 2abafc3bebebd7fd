// The request front: a request's id, its query string (as the ingress
// parses it, with RESTinio's parse_query), route matching with `:param`
// segments, URL decoding, and the JSON helpers a handler reads its body
// with (`parse_json`, `json_body<T>`, `json_field`).
//
// Input: METHOD 0xFF PATH 0xFF QUERY 0xFF BODY.
#include <restinio/uri_helpers.hpp>

#include "actorserve/http.hpp"
#include "check.hpp"
#include "base/text.hpp"

namespace fuzz_request {

struct item {
  std::string name;
  int64_t count = 0;
  std::vector<std::string> tags;
  double score = 0;
};
ACTORSERVE_JSON(item, name, count, tags, score)

} // namespace fuzz_request

using namespace actorserve;

namespace {

// What a handler does with a body: any failure must be a 400.
void read_body(const http_request& req) {
  try {
    auto body = parse_json(req);
    (void) json_field<std::string>(body, "name", "none");
    (void) json_field<std::vector<int32_t>>(body, "tokens", {});
    (void) json_field<double>(body, "score");
  } catch (const error_exception& e) {
    fuzz::require(e.code() == errc::bad_request, "body errors are 400");
  }
  try {
    auto x = json_body<fuzz_request::item>(req);
    (void) x;
  } catch (const error_exception& e) {
    fuzz::require(e.code() == errc::bad_request, "json_body errors are 400");
    fuzz::require(*e.what() != '\0', "json_body errors say what is wrong");
  }
}

// A matched route's parameters are the URL-decoded segments.
reply on_match(http_request& req, size_t segments) {
  fuzz::require(req.params.size() <= segments, "one parameter per segment");
  for (auto& [name, value] : req.params) {
    fuzz::require(!name.empty(), "parameters have names");
    fuzz::require(detail::valid_utf8(value), "parameters are text", req.path);
    fuzz::require(value.size() <= req.path.size(),
                  "a parameter is no longer than the path", req.path);
  }
  read_body(req);
  return http_response{};
}

http_routes make_routes() {
  http_routes routes;
  routes.get("/items/:id", [](http_request& r) { return on_match(r, 2); });
  routes.post("/items/:id", [](http_request& r) { return on_match(r, 2); });
  routes.put("/items/:id/tags/:tag",
             [](http_request& r) { return on_match(r, 4); });
  routes.post("/", [](http_request& r) { return on_match(r, 0); });
  routes.del("/a/b/c", [](http_request& r) { return on_match(r, 3); });
  routes.route("PATCH", "/:x/:y/:z/:w",
               [](http_request& r) { return on_match(r, 4); });
  return routes;
}

void check_url_decode(const std::string& x) {
  auto decoded = url_decode(x);
  fuzz::require(decoded.size() <= x.size(), "url_decode never grows", x);
  if (x.find('%') == std::string::npos)
    fuzz::require(decoded == x, "url_decode keeps text without '%'", x);
}

void check_query(const std::string& query) {
  try {
    auto qp = restinio::parse_query(query);
    for (auto& kvp : qp) {
      fuzz::require(kvp.first.size() + kvp.second.size() <= query.size(),
                    "a query pair is no longer than the query", query);
      (void) detail::to_valid_utf8(std::string{kvp.second});
    }
  } catch (const std::exception&) {
    // The ingress answers 400.
  }
}

// Whether some segment of `path` is not UTF-8 once decoded: a parameter
// there is refused with 400.
bool has_binary_segment(const std::string& path) {
  size_t pos = 0;
  while (pos <= path.size()) {
    auto next = path.find('/', pos);
    if (next == std::string::npos)
      next = path.size();
    if (!detail::valid_utf8(url_decode(path.substr(pos, next - pos))))
      return true;
    pos = next + 1;
  }
  return false;
}

void check_dispatch(const http_routes& routes, http_request& req) {
  auto result = routes.dispatch(req);
  if (result.flag != caf::rt_error)
    return;
  auto code = code_of(result.err);
  if (code == errc::bad_request) {
    fuzz::require(has_binary_segment(req.path),
                  "only a parameter that is not text is a 400", req.path);
    return;
  }
  fuzz::require(code == errc::not_found || code == errc::method_not_allowed,
                "an unmatched request is 404 or 405", req.path);
  if (code == errc::method_not_allowed)
    fuzz::require(!allowed_methods(result.err).empty(),
                  "a 405 says what is allowed");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto routes = make_routes();
  fuzz::input in{data, size};
  http_request req;
  req.method = in.field();
  req.path = in.field();
  req.full_path = req.path;
  auto query = in.field();
  req.body = in.rest();
  req.request_id = req.method; // any header text may arrive as an id
  if (detail::valid_request_id(req.request_id))
    fuzz::require(detail::valid_utf8(req.request_id), "ids are UTF-8");
  check_url_decode(req.path);
  check_query(query);
  check_dispatch(routes, req);
  return 0;
}
