/// @file
/// Forward declarations of actorserve's main types.
#pragma once

namespace actorserve {

template <class Interface>
class handle;
template <class Interface>
class app_node;
template <class F>
class deployment_builder;
class http_routes;
class serve;
struct deployment_config;
struct http_request;
struct http_response;
struct replica_context;
struct request_meta;
struct serve_options;
struct serve_status;

} // namespace actorserve
