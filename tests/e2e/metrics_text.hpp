/// @file
/// Reading `GET /-/metrics` in end-to-end tests: a scrape, the sum of a
/// metric's samples, and Prometheus' own checker (promtool).
#pragma once

#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>
#include <chrono>
#include <sstream>
#include <string>
#include <utility>
#include <vector>
#include <unistd.h>
#include <sys/wait.h>

#include "demo_server.hpp"

namespace test {

/// The sum of every sample of `name` whose labels include all of `labels`
/// (`k="v"` pieces); -1 when there is none.
inline double sample(const std::string& text, const std::string& name,
                     const std::vector<std::string>& labels = {}) {
  std::istringstream in{text};
  std::string line;
  double sum = 0;
  bool found = false;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#')
      continue;
    auto cut = line.find_first_of("{ ");
    if (line.substr(0, cut) != name)
      continue;
    bool all = true;
    for (auto& l : labels)
      all = all && line.find(l) != std::string::npos;
    if (!all)
      continue;
    found = true;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return found ? sum : -1;
}

inline std::string scrape(demo_server& s) {
  auto r = http(s.serve.admin_port(), "GET", "/-/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type").find("text/plain; version=0.0.4") == 0);
  return r.body;
}

/// Runs `promtool check metrics` on `text`; its exit status and output.
inline std::pair<int, std::string> run_promtool(const std::string& text) {
  char path[] = "/tmp/actorserve-metrics-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream{path} << text;
  auto cmd = std::string{"promtool check metrics < "} + path + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[512];
  while (auto n = std::fread(buf, 1, sizeof(buf), pipe))
    out.append(buf, n);
  int rc = ::pclose(pipe);
  std::remove(path);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out};
}

/// What promtool says about `text` beyond the style advice it gives on
/// Ray Serve's own names (`..._counter_total` names the type, `_ms` is an
/// abbreviated unit), which we keep so that Ray's dashboards and alerts
/// work unchanged. Empty: the text is valid.
inline std::string promtool_problems(const std::string& text) {
  auto [rc, out] = run_promtool(text);
  static const std::regex ray_style{
      R"(^ray_serve_[a-z_]+ metric names? should not (include type 'counter'|contain abbreviated units)$)"};
  std::istringstream in{out};
  std::string line;
  std::string problems;
  while (std::getline(in, line))
    if (!line.empty() && !std::regex_match(line, ray_style))
      problems += line + "\n";
  // promtool exits 3 when it found only lint problems, 1 on an error.
  if (rc != 0 && rc != 3)
    problems += "promtool exited with " + std::to_string(rc) + "\n";
  return problems;
}

/// Scrapes until `name` (with `labels`) sums to `want`, for up to 10 s:
/// for a count that an asynchronous step (a blocking thread, a socket
/// closing) moves after the response. The last sum.
inline double await_sample(demo_server& s, const std::string& name,
                           const std::vector<std::string>& labels,
                           double want) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  double got = sample(scrape(s), name, labels);
  while (got != want && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
    got = sample(scrape(s), name, labels);
  }
  return got;
}

} // namespace test
