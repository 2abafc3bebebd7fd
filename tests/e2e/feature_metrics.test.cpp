// The metrics of batching, multiplexing and streaming, end to end: the
// demo's batched, multiplexed and streaming deployments over real HTTP
// move Ray Serve's `ray_serve_batch_*` and `ray_serve_multiplexed_*`
// metrics and actorserve's stream metrics, and promtool accepts the text.
#include <thread>
#include <vector>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"
#include "metrics_text.hpp"
#include "sse_client.hpp"

using namespace std::chrono;
using json = nlohmann::json;
using test::sample;
using test::scrape;
using test::stream_body;

TEST_CASE("batches move Ray Serve's batch metrics", "[metrics][batching]") {
  test::demo_server s;
  // One call alone: the wait timeout sends a batch of one.
  REQUIRE(s.post("/batch", {{"x", 1}}).status == 200);
  // 30 at once: batches of up to 10.
  constexpr int n = 30;
  std::vector<std::thread> clients;
  std::vector<int> status(n, 0);
  for (int i = 0; i < n; ++i)
    clients.emplace_back([&, i] {
      status[i] = s.post("/batch", {{"x", i}}).status;
    });
  for (auto& t : clients)
    t.join();
  for (auto st : status)
    REQUIRE(st == 200);
  // A batch's metrics are in before its calls are answered.
  auto text = scrape(s);
  INFO(text);
  const std::vector<std::string> of{R"(deployment="Batcher")",
                                    R"(application="batch")",
                                    R"(function_name="__call__")"};
  auto batches = sample(text, "ray_serve_actual_batch_size_count", of);
  CHECK(batches >= 1 + n / 10);
  CHECK(batches <= 1 + n);
  CHECK(sample(text, "ray_serve_actual_batch_size_sum", of) == 1 + n);
  auto le1 = of;
  le1.push_back(R"(le="1")");
  CHECK(sample(text, "ray_serve_actual_batch_size_bucket", le1) >= 1);
  CHECK(sample(text, "ray_serve_batch_wait_time_ms_count", of) == 1 + n);
  // The lone call waited for the 10 ms timeout.
  CHECK(sample(text, "ray_serve_batch_wait_time_ms_sum", of) >= 10);
  CHECK(sample(text, "ray_serve_batch_execution_time_ms_count", of) == batches);
  // Every batch sleeps at least 5 ms.
  CHECK(sample(text, "ray_serve_batch_execution_time_ms_sum", of) >=
        5 * batches);
  CHECK(sample(text, "ray_serve_batch_utilization_percent_count", of) ==
        batches);
  CHECK(sample(text, "ray_serve_batch_utilization_percent_sum", of) ==
        Approx(10.0 * (1 + n)));
  CHECK(sample(text, "ray_serve_batch_queue_length", of) == 0);
  CHECK(test::promtool_problems(text) == "");
}

TEST_CASE("loading and evicting models move Ray Serve's multiplexing metrics",
          "[metrics][multiplexing]") {
  test::demo_server s;
  // MultiModel: 2 replicas holding up to 2 models each. Five models make
  // at least one eviction.
  const std::vector<std::string> ids{"m1", "m2", "m3", "m4", "m5"};
  for (auto& id : ids)
    REQUIRE(test::http(s.port, "POST", "/multi", "{}",
                       {{"serve_multiplexed_model_id", id}})
                .status == 200);
  REQUIRE(test::http(s.port, "POST", "/multi", "{}",
                     {{"serve_multiplexed_model_id", "m5"}})
              .status == 200);
  auto text = scrape(s);
  INFO(text);
  const std::vector<std::string> of{R"(deployment="MultiModel")",
                                    R"(application="multi")"};
  CHECK(sample(text, "ray_serve_multiplexed_get_model_requests_counter_total",
               of) == 6);
  CHECK(sample(text, "ray_serve_multiplexed_models_load_counter_total", of) ==
        5);
  CHECK(sample(text, "ray_serve_multiplexed_model_load_latency_ms_count", of) ==
        5);
  CHECK(sample(text, "ray_serve_multiplexed_model_load_latency_ms_sum", of) >=
        5 * 50); // each load takes 50 ms
  auto held = sample(text, "ray_serve_num_multiplexed_models", of);
  CHECK(held >= 2);
  CHECK(held <= 4);
  auto unloads =
      sample(text, "ray_serve_multiplexed_models_unload_counter_total", of);
  CHECK(unloads == 5 - held);
  // One series at 1 per model held; the last one used is held.
  CHECK(sample(text, "ray_serve_registered_multiplexed_model_id", of) == held);
  auto m5 = of;
  m5.push_back(R"(model_id="m5")");
  CHECK(sample(text, "ray_serve_registered_multiplexed_model_id", m5) == 1);
  // Unloads run on blocking threads after the eviction.
  CHECK(test::await_sample(
            s, "ray_serve_multiplexed_model_unload_latency_ms_count", of,
            unloads) == unloads);
  CHECK(test::promtool_problems(text) == "");
}

namespace {

/// Reads `c` to its end; the events.
std::vector<test::sse_event> drain(test::sse_client& c) {
  std::vector<test::sse_event> out;
  while (auto ev = c.next(seconds(10)))
    out.push_back(*ev);
  return out;
}

} // namespace

TEST_CASE("streamed responses move the stream metrics", "[metrics][sse]") {
  test::demo_server s;
  const std::vector<std::string> of{R"(route="/stream")",
                                    R"(application="stream")"};
  auto with = [&](const char* label) {
    auto l = of;
    l.emplace_back(label);
    return l;
  };
  {
    test::sse_client c{s.port, "/stream", stream_body(5, 0)};
    REQUIRE(c.status() == 200);
    CHECK(drain(c).size() == 6); // 5 tokens and `done`
  }
  {
    test::sse_client c{s.port, "/stream", stream_body(10, 0, 2)};
    REQUIRE(c.status() == 200);
    CHECK(drain(c).size() == 3); // 2 tokens and `error`
  }
  auto text = scrape(s);
  INFO(text);
  CHECK(sample(text, "actorserve_http_streams_total", with(R"(result="ok")")) ==
        1);
  CHECK(sample(text, "actorserve_http_streams_total",
               with(R"(result="error")")) == 1);
  CHECK(sample(text, "actorserve_http_streams_total",
               with(R"(result="cancelled")")) == 0);
  CHECK(sample(text, "actorserve_http_stream_chunks_total", of) == 5 + 2);
  CHECK(sample(text, "actorserve_http_stream_first_chunk_seconds_count", of) ==
        2);
  CHECK(sample(text, "actorserve_http_streams_ongoing", of) == 0);
  CHECK(test::promtool_problems(text) == "");
  // A client that goes away mid-stream: open while it lasts, then
  // cancelled.
  test::sse_client c{s.port, "/stream", stream_body(100'000, 10)};
  REQUIRE(c.status() == 200);
  REQUIRE(c.next(seconds(10)));
  CHECK(sample(scrape(s), "actorserve_http_streams_ongoing", of) == 1);
  c.close();
  CHECK(test::await_sample(s, "actorserve_http_streams_total",
                           with(R"(result="cancelled")"), 1) == 1);
  CHECK(sample(scrape(s), "actorserve_http_streams_ongoing", of) == 0);
}
