/// @file
/// HTTP inside an application: the analogue of Ray Serve's FastAPI ingress.
///
/// An application's ingress deployment accepts `http_request` and answers
/// `http_response`. `http_routes` gives it express-style routes with methods
/// and path parameters; JSON helpers turn malformed bodies into `bad_request`
/// (HTTP 400) instead of exceptions escaping.
///
/// ```cpp
/// http_ingress::behavior_type api(http_ingress::pointer self) {
///   http_routes routes;
///   routes.post("/items/:id", [=](http_request& req) -> reply {
///     auto body = parse_json(req);
///     return json_response({{"id", req.param("id")},
///                           {"name", json_field<std::string>(body, "name")}});
///   });
///   return {routes.handler()};
/// }
/// ```
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/make_message.hpp>
#include <caf/result.hpp>
#include <caf/typed_actor.hpp>
#include <nlohmann/json.hpp>

#include "actorserve/error.hpp"
#include "actorserve/http_types.hpp"

namespace actorserve {

/// The smallest interface of an HTTP ingress deployment. Ingress deployments
/// may accept more messages; they must accept this one.
using http_ingress =
    caf::typed_actor<caf::replies_to<http_request>::with<http_response>>;

/// What a route handler returns: a response now, an error, or a promise
/// (`self->make_response_promise<http_response>()`) delivered later.
using reply = caf::result<http_response>;

/// Handles one route.
using route_handler = std::function<reply(http_request&)>;

/// Method and path routing inside an application.
class http_routes {
public:
  http_routes();

  /// Adds a route. `pattern` is relative to the application's route prefix;
  /// segments of the form ":name" capture path parameters.
  http_routes& route(std::string method, const std::string& pattern,
                     route_handler handler);

  http_routes& get(const std::string& pattern, route_handler handler) {
    return route("GET", pattern, std::move(handler));
  }

  http_routes& post(const std::string& pattern, route_handler handler) {
    return route("POST", pattern, std::move(handler));
  }

  http_routes& put(const std::string& pattern, route_handler handler) {
    return route("PUT", pattern, std::move(handler));
  }

  http_routes& del(const std::string& pattern, route_handler handler) {
    return route("DELETE", pattern, std::move(handler));
  }

  /// Finds the route for `req`, fills `req.params` and runs the handler.
  /// No matching path gives `not_found`; a path without that method gives
  /// `method_not_allowed`.
  reply dispatch(http_request& req) const;

  /// A message handler for an ingress behavior: `return {routes.handler()};`
  auto handler() const {
    auto self = state_;
    return [self](http_request& req) -> reply { return dispatch(*self, req); };
  }

private:
  struct entry {
    std::string method;
    std::vector<std::string> segments;
    route_handler handler;
  };

  struct state {
    std::vector<entry> entries;
  };

  static reply dispatch(const state& st, http_request& req);

  std::shared_ptr<state> state_;
};

/// Parses the body as JSON; throws `error_exception(bad_request)` when it is
/// not valid JSON.
nlohmann::json parse_json(const http_request& req);

/// Decodes `%XX` escapes (path parameters arrive decoded); a `%` not
/// followed by two hex digits stays as it is.
std::string url_decode(const std::string& x);

/// The error `http_routes` answers when the path exists for other methods:
/// `method_not_allowed` (405), carrying the methods for the `Allow` header.
caf::error method_not_allowed(std::string message, std::string allowed);

/// The `Allow` header value a 405 error carries ("GET, POST"), or empty.
std::string allowed_methods(const caf::error& err);

namespace detail {

/// Reads `body[name]` into `out` (ACTORSERVE_JSON); throws
/// `error_exception(bad_request)` naming the field when it is missing or has
/// the wrong shape.
template <class T>
void read_json_field(const nlohmann::json& body, const char* name, T& out) {
  if (!body.is_object())
    throw error_exception(errc::bad_request, "the body must be a JSON object");
  auto i = body.find(name);
  if (i == body.end())
    throw error_exception(errc::bad_request,
                          std::string{"missing field '"} + name + "'");
  try {
    i->get_to(out);
  } catch (const error_exception& e) {
    // A nested struct: say where.
    throw error_exception(errc::bad_request,
                          std::string{"field '"} + name + "': " + e.what());
  } catch (const nlohmann::json::exception&) {
    throw error_exception(errc::bad_request, std::string{"field '"} + name +
                                                 "' has the wrong type");
  }
}

} // namespace detail

/// Reads the JSON body as `T`: a struct declared with `ACTORSERVE_JSON` (or
/// any type nlohmann::json converts). A body that is not JSON, or has the
/// wrong shape, fails the request with 400 naming the field.
template <class T>
T json_body(const http_request& req) {
  auto body = parse_json(req);
  try {
    return body.get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw error_exception(errc::bad_request,
                          std::string{"the body has the wrong shape: "} +
                              e.what());
  }
}

/// Returns `body[name]` as `T`; throws `error_exception(bad_request)` naming
/// the field when it is missing or has another type.
template <class T>
T json_field(const nlohmann::json& body, const char* name) {
  T result{};
  detail::read_json_field(body, name, result);
  return result;
}

/// Like `json_field`, but returns `fallback` when the field is absent.
template <class T>
T json_field(const nlohmann::json& body, const char* name, T fallback) {
  if (body.is_object() && body.find(name) == body.end())
    return fallback;
  return json_field<T>(body, name);
}

/// A JSON response. Takes any value nlohmann::json converts, such as a
/// struct declared with `ACTORSERVE_JSON`.
http_response json_response(const nlohmann::json& body, uint16_t status = 200);

} // namespace actorserve

#define ACTORSERVE_JSON_READ_FIELD(field)                                      \
  ::actorserve::detail::read_json_field(nlohmann_json_j, #field,               \
                                        nlohmann_json_t.field);

/// Declares JSON conversion for a struct, as
/// `NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE` does, except that reading names the
/// field that is missing or of the wrong type (`json_body<T>` then answers 400
/// with that name). Use it at namespace scope, in the struct's namespace:
/// `struct query { std::string text; int top_k; }; ACTORSERVE_JSON(query, text,
/// top_k)`
#define ACTORSERVE_JSON(Type, ...)                                             \
  inline void to_json(nlohmann::json& nlohmann_json_j,                         \
                      const Type& nlohmann_json_t) {                           \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, __VA_ARGS__))   \
  }                                                                            \
  inline void from_json(const nlohmann::json& nlohmann_json_j,                 \
                        Type& nlohmann_json_t) {                               \
    NLOHMANN_JSON_EXPAND(                                                      \
        NLOHMANN_JSON_PASTE(ACTORSERVE_JSON_READ_FIELD, __VA_ARGS__))          \
  }
