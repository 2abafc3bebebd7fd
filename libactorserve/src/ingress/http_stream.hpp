/// @file
/// A streamed HTTP response (SSE or chunked) being written by an ingress
/// shard: the consumer end of a stream (stream_core.hpp) whose chunks go to
/// the socket, one flush per batch. Credit goes back to the producer when a
/// flush completes, so a client that reads slowly slows the producer.
#pragma once

#include <memory>
#include <string>

#include <caf/error.hpp>
#include <restinio/all.hpp>

#include "actorserve/http_types.hpp"
#include "actorserve/stream_core.hpp"
#include "ingress/http_metrics.hpp"

namespace actorserve::detail {

class ingress_shard;

using chunked_response_t =
    restinio::response_builder_t<restinio::chunked_output_t>;

class http_stream final : public inbound {
public:
  /// `cells` (null: not counted) count it from `arrived`, the request's
  /// arrival.
  http_stream(ingress_shard& shard, restinio::request_handle_t req,
              std::string request_id, chunked_response_t resp, body_mode mode,
              http_metrics::stream_cells* cells,
              std::chrono::steady_clock::time_point arrived);

  uint32_t on_batch(caf::type_erased_tuple& msg) override;

  void on_end(const caf::error& err) override;

  /// Starts the first-chunk timer; `tag` names the stream in the inbox.
  void start(uint64_t tag);

  restinio::connection_id_t connection() const { return conn_; }

private:
  void arm(std::chrono::milliseconds limit, const char* what);

  ingress_shard& shard_;
  restinio::request_handle_t req_;
  std::string request_id_;
  chunked_response_t resp_;
  body_mode mode_;
  restinio::connection_id_t conn_;
  uint64_t tag_ = 0;
  asio::steady_timer timer_;
  http_metrics::stream_cells* cells_ = nullptr;
  std::chrono::steady_clock::time_point arrived_;
  bool first_ = true;
};

/// Encodes one chunk as a Server-Sent Event (`data:` lines, blank line).
std::string sse_event(const std::string& data, const char* event = nullptr);

} // namespace actorserve::detail
