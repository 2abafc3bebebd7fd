/// @file
/// One I/O thread's HTTP metrics (Ray Serve's proxy metrics).
///
/// Each shard owns one `http_metrics`, touched by its thread alone: the
/// cells of a route, application and method are found once and kept, so a
/// request costs a hash lookup of its route's key at the start, a short
/// scan over the status codes seen at the end, and a few uncontended
/// atomic adds on cache lines no other thread writes. The registry sums the
/// shards' cells when it renders them.
///
/// Streamed responses (SSE, chunked) have their own, beyond Ray's: the time
/// to the first chunk (`actorserve_http_stream_first_chunk_seconds`,
/// what an LLM's users feel), chunks written
/// (`actorserve_http_stream_chunks_total`), streams open
/// (`actorserve_http_streams_ongoing`) and streams ended by result
/// (`actorserve_http_streams_total{result="ok|error|cancelled"}`).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "actorserve/metrics.hpp"

namespace actorserve::detail {

class http_metrics {
public:
  /// The cells of one (route, application, method, ingress deployment).
  struct route_cells {
    std::string route;
    std::string app;
    std::string method;
    std::string deployment;
    struct status_cells {
      uint16_t status;
      counter requests;
      histogram latency_ms;
      counter errors;            // status >= 400
      counter deployment_errors; // status >= 400, with a deployment
    };
    std::vector<status_cells> by_status;
    /// Made on the route's first stream.
    struct stream_cells {
      histogram first_chunk_s;
      counter chunks;
      gauge ongoing;
      counter ok;
      counter failed;
      counter cancelled;
    };
    std::unique_ptr<stream_cells> streams;
  };
  using stream_cells = route_cells::stream_cells;

  /// With a null `reg`, `record` counts nothing (routes still resolve, for
  /// the access log).
  explicit http_metrics(metrics_ptr reg) : reg_(std::move(reg)) {}

  /// The cells of a request; an unmatched one has empty route and app.
  route_cells* route(std::string_view route, std::string_view app,
                     std::string_view method, std::string_view deployment);

  /// A response with `status` went out `ms` after the request came in.
  void record(route_cells& rc, uint16_t status, double ms);

  /// The stream cells of `rc` (null with metrics off).
  stream_cells* streams(route_cells& rc);

private:
  metrics_ptr reg_;
  std::unordered_map<std::string, std::unique_ptr<route_cells>> routes_;
  std::string key_; // reused: no allocation per request once warm
};

} // namespace actorserve::detail
