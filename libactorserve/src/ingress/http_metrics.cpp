#include "ingress/http_metrics.hpp"

namespace actorserve::detail {

http_metrics::route_cells* http_metrics::route(std::string_view route,
                                               std::string_view app,
                                               std::string_view method,
                                               std::string_view deployment) {
  key_.assign(route);
  key_ += '\0';
  key_ += app;
  key_ += '\0';
  key_ += method;
  auto i = routes_.find(key_);
  if (i != routes_.end())
    return i->second.get();
  auto rc = std::make_unique<route_cells>();
  rc->route = std::string{route};
  rc->app = std::string{app};
  rc->method = std::string{method};
  rc->deployment = std::string{deployment};
  auto raw = rc.get();
  routes_.emplace(key_, std::move(rc));
  return raw;
}

void http_metrics::record(route_cells& rc, uint16_t status, double ms) {
  route_cells::status_cells* cells = nullptr;
  for (auto& c : rc.by_status)
    if (c.status == status) {
      cells = &c;
      break;
    }
  if (!reg_)
    return; // the access log alone
  if (cells == nullptr) {
    auto code = std::to_string(status);
    metric_labels labels{{"route", rc.route},
                         {"method", rc.method},
                         {"application", rc.app},
                         {"status_code", code}};
    route_cells::status_cells c;
    c.status = status;
    c.requests = reg_->make_counter("ray_serve_num_http_requests_total",
                                    "HTTP requests the proxy answered", labels);
    c.latency_ms = reg_->make_histogram(
        "ray_serve_http_request_latency_ms",
        "Time from an HTTP request's arrival to its response, in ms",
        default_latency_buckets_ms(), labels);
    if (status >= 400) {
      c.errors =
          reg_->make_counter("ray_serve_num_http_error_requests_total",
                             "HTTP requests answered with an error status",
                             {{"route", rc.route},
                              {"error_code", code},
                              {"method", rc.method},
                              {"application", rc.app}});
      if (!rc.deployment.empty())
        c.deployment_errors = reg_->make_counter(
            "ray_serve_num_deployment_http_error_requests_total",
            "HTTP requests to a deployment answered with an error status",
            {{"deployment", rc.deployment},
             {"error_code", code},
             {"method", rc.method},
             {"route", rc.route},
             {"application", rc.app}});
    }
    rc.by_status.push_back(std::move(c));
    cells = &rc.by_status.back();
  }
  cells->requests.inc();
  cells->latency_ms.observe(ms);
  cells->errors.inc();
  cells->deployment_errors.inc();
}

http_metrics::stream_cells* http_metrics::streams(route_cells& rc) {
  if (!reg_)
    return nullptr;
  if (rc.streams)
    return rc.streams.get();
  metric_labels labels{{"route", rc.route}, {"application", rc.app}};
  auto sc = std::make_unique<stream_cells>();
  // Our own names follow Prometheus' base units (Ray's keep their `_ms`).
  std::vector<double> seconds;
  for (auto ms : default_latency_buckets_ms())
    seconds.push_back(ms / 1000);
  sc->first_chunk_s = reg_->make_histogram(
      "actorserve_http_stream_first_chunk_seconds",
      "Time from a streamed request's arrival to its first chunk, in seconds",
      std::move(seconds), labels);
  sc->chunks =
      reg_->make_counter("actorserve_http_stream_chunks_total",
                         "Chunks written to streamed responses", labels);
  sc->ongoing = reg_->make_gauge("actorserve_http_streams_ongoing",
                                 "Streamed responses being written", labels);
  auto ended = [&](const char* result) {
    auto l = labels;
    l.emplace_back("result", result);
    return reg_->make_counter("actorserve_http_streams_total",
                              "Streamed responses ended, by result", l);
  };
  sc->ok = ended("ok");
  sc->failed = ended("error");
  sc->cancelled = ended("cancelled");
  rc.streams = std::move(sc);
  return rc.streams.get();
}

} // namespace actorserve::detail
