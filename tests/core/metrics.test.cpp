// The metrics registry as plain data: cells, sums, expiry and the text
// format.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "actorserve/metrics.hpp"

using namespace actorserve;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos ||
         text.rfind(line + "\n", 0) == 0;
}

} // namespace

TEST_CASE("cells with equal labels are summed, and others are not") {
  metrics_registry reg;
  auto a = reg.make_counter("x_total", "help", {{"k", "1"}});
  auto b = reg.make_counter("x_total", "help", {{"k", "1"}});
  auto c = reg.make_counter("x_total", "help", {{"k", "2"}});
  a.inc();
  b.inc(2);
  c.inc(5);
  c.inc(-1); // a counter never goes down
  auto text = reg.render();
  INFO(text);
  CHECK(has_line(text, "# HELP x_total help"));
  CHECK(has_line(text, "# TYPE x_total counter"));
  CHECK(has_line(text, "x_total{k=\"1\"} 3"));
  CHECK(has_line(text, "x_total{k=\"2\"} 5"));
}

TEST_CASE("a counter outlives its handle and a gauge does not") {
  metrics_registry reg;
  {
    auto c = reg.make_counter("gone_total", "h", {});
    c.inc(4);
    auto g = reg.make_gauge("level", "h", {});
    g.set(7);
    CHECK(has_line(reg.render(), "level 7"));
  }
  auto text = reg.render();
  INFO(text);
  CHECK(has_line(text, "gone_total 4"));
  CHECK(text.find("level") == std::string::npos);
}

TEST_CASE("a replica's counters and histograms leave with its last handle") {
  metrics_registry reg;
  auto labels = [](const char* replica) {
    return metric_labels{{"deployment", "D"}, {"replica", replica}};
  };
  auto live = reg.make_counter("calls_total", "h", labels("1"));
  live.inc(2);
  {
    auto gone = reg.make_counter("calls_total", "h", labels("2"));
    gone.inc(3);
    auto copy = gone; // a reply guard's reference, say
    auto lat = reg.make_histogram("lat_ms", "h", {1.0}, labels("2"));
    lat.observe(0.5);
    { auto drop = std::move(gone); }
    auto text = reg.render();
    INFO(text);
    // One handle still holds the cell: its series stays.
    CHECK(has_line(text, "calls_total{deployment=\"D\",replica=\"2\"} 3"));
    CHECK(has_line(text, "lat_ms_count{deployment=\"D\",replica=\"2\"} 1"));
  }
  auto text = reg.render();
  INFO(text);
  CHECK(has_line(text, "calls_total{deployment=\"D\",replica=\"1\"} 2"));
  CHECK(text.find("replica=\"2\"") == std::string::npos);
  CHECK(text.find("lat_ms") == std::string::npos);
}

TEST_CASE("a gauge function is read at render time while its owner lives") {
  metrics_registry reg;
  auto owner = std::make_shared<int>(3);
  reg.add_gauge_fn("queued", "h", {{"deployment", "D"}}, owner,
                   [raw = owner.get()] { return static_cast<double>(*raw); });
  CHECK(has_line(reg.render(), "queued{deployment=\"D\"} 3"));
  *owner = 9;
  CHECK(has_line(reg.render(), "queued{deployment=\"D\"} 9"));
  owner.reset();
  CHECK(reg.render().find("queued") == std::string::npos);
}

TEST_CASE("a histogram renders cumulative buckets, +Inf, sum and count") {
  metrics_registry reg;
  auto h = reg.make_histogram("lat_ms", "h", {1, 10}, {{"r", "a"}});
  auto h2 = reg.make_histogram("lat_ms", "h", {1, 10}, {{"r", "a"}});
  h.observe(0.5);
  h.observe(1); // a bound is inclusive (le)
  h2.observe(5);
  h2.observe(50);
  auto text = reg.render();
  INFO(text);
  CHECK(has_line(text, "# TYPE lat_ms histogram"));
  CHECK(has_line(text, "lat_ms_bucket{r=\"a\",le=\"1\"} 2"));
  CHECK(has_line(text, "lat_ms_bucket{r=\"a\",le=\"10\"} 3"));
  CHECK(has_line(text, "lat_ms_bucket{r=\"a\",le=\"+Inf\"} 4"));
  CHECK(has_line(text, "lat_ms_sum{r=\"a\"} 56.5"));
  CHECK(has_line(text, "lat_ms_count{r=\"a\"} 4"));
}

TEST_CASE("label values are escaped and bad names are refused") {
  metrics_registry reg;
  reg.make_counter("esc_total", "a \\ b\nc", {{"v", "q\"\\\n"}}).inc();
  auto text = reg.render();
  INFO(text);
  CHECK(has_line(text, "# HELP esc_total a \\\\ b\\nc"));
  CHECK(has_line(text, "esc_total{v=\"q\\\"\\\\\\n\"} 1"));
  CHECK_THROWS_AS(reg.make_counter("1bad", "h", {}), std::invalid_argument);
  CHECK_THROWS_AS(reg.make_counter("ok_total", "h", {{"le", "x"}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(reg.make_counter("ok_total", "h", {{"bad-label", "x"}}),
                  std::invalid_argument);
  CHECK_THROWS_AS(reg.make_gauge("esc_total", "h", {}), std::invalid_argument);
  CHECK_THROWS_AS(reg.make_histogram("h_ms", "h", {2, 1}, {}),
                  std::invalid_argument);
  reg.make_histogram("h2_ms", "h", {1, 2}, {});
  CHECK_THROWS_AS(reg.make_histogram("h2_ms", "h", {1, 3}, {}),
                  std::invalid_argument);
}

TEST_CASE("writers on many threads, each with its own cell, lose no count") {
  metrics_registry reg;
  constexpr int threads = 4;
  constexpr int per_thread = 20000;
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&reg] {
      auto c = reg.make_counter("n_total", "h", {{"route", "/"}});
      auto h = reg.make_histogram("d_ms", "h", {1}, {});
      for (int i = 0; i < per_thread; ++i) {
        c.inc();
        h.observe(0.5);
      }
    });
  for (auto& t : ts)
    t.join();
  auto text = reg.render();
  INFO(text);
  CHECK(has_line(text, "n_total{route=\"/\"} 80000"));
  CHECK(has_line(text, "d_ms_count 80000"));
}

TEST_CASE("handles made with metrics off do nothing") {
  counter c;
  gauge g;
  histogram h;
  c.inc();
  g.set(1);
  h.observe(1);
  CHECK_FALSE(c);
  CHECK_FALSE(g);
  CHECK_FALSE(h);
}
