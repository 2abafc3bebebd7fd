// tools/loadgen's accounting, the chaos suite's instrument: how each
// request ends (by status, transport error, or a cut of ours), the log line
// per request, the `{n}` variants, and where cuts fall (a pure function).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "actorserve/actorserve.hpp"
#include "http_client.hpp"
#include "outcomes.hpp"

using namespace std::chrono;
using namespace actorserve;
using json = nlohmann::json;

namespace {

/// Runs loadgen with `args`; its --json summary (null if none).
json run_loadgen(const std::string& args) {
  auto cmd = std::string{LOADGEN_BINARY} + " " + args + " 2>/dev/null";
  INFO(cmd);
  FILE* pipe = ::popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
    out.append(buf, n);
  ::pclose(pipe);
  return json::parse(out, nullptr, false);
}

/// Per request index, the outcomes the log gives it.
std::map<int64_t, std::vector<std::string>> read_log(const std::string& path) {
  std::map<int64_t, std::vector<std::string>> ends;
  std::ifstream f{path};
  int64_t i = 0;
  long long due = 0;
  long long end = 0;
  std::string what;
  while (f >> i >> due >> end >> what)
    ends[i].push_back(what);
  return ends;
}

/// GET /slow sleeps 20 ms on a blocking thread; GET /v/N answers with
/// status 200, 503 or 404 for N = 0, 1, 2, and echoes the X-N header.
http_ingress::behavior_type routes_under_test(http_ingress::pointer self) {
  http_routes routes;
  routes.get("/slow", [self](http_request&) -> reply {
    return run_blocking(self, [] {
      std::this_thread::sleep_for(milliseconds(20));
      return json_response({{"ok", true}});
    });
  });
  routes.get("/v/:n", [](http_request& req) -> reply {
    static const uint16_t codes[] = {200, 503, 404};
    auto n = std::stoi(req.param("n"));
    auto r = json_response({{"header", req.header("x-n")}});
    r.status = codes[n % 3];
    if (req.header("x-n") != req.param("n"))
      r.status = 500; // the variant's header and path disagree
    return r;
  });
  return {routes.handler()};
}

struct server {
  serve s{[] {
    serve_options opts;
    opts.admin.port = 0;
    opts.http.port = 0;
    return opts;
  }()};
  uint16_t port = 0;

  server() {
    REQUIRE(s.run(s.deployment("Under", routes_under_test)
                      .max_ongoing_requests(100)
                      .bind(),
                  {"under", "/t"}));
    port = s.http_port();
  }
};

std::string temp_path() {
  char path[] = "/tmp/loadgen-log-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  return path;
}

} // namespace

TEST_CASE("cuts: none at 0, all at 1, about the fraction between, the same "
          "for the same seed, within the request and the time bound",
          "[loadgen][cut]") {
  using loadgen::plan_cut;
  const int64_t max_ns = 50'000'000;
  int cut = 0;
  int by_bytes = 0;
  for (int64_t i = 0; i < 10000; ++i) {
    CHECK_FALSE(plan_cut(7, i, 0.0, max_ns, 100).cut);
    CHECK(plan_cut(7, i, 1.0, max_ns, 100).cut);
    auto p = plan_cut(7, i, 0.3, max_ns, 100);
    auto again = plan_cut(7, i, 0.3, max_ns, 100);
    CHECK((p.cut == again.cut && p.bytes == again.bytes &&
           p.after_ns == again.after_ns && p.rst == again.rst));
    if (!p.cut)
      continue;
    ++cut;
    if (p.by_bytes) {
      ++by_bytes;
      CHECK((p.bytes >= 1 && p.bytes < 100));
    } else {
      CHECK((p.after_ns >= 0 && p.after_ns <= max_ns));
    }
  }
  CHECK((cut > 2700 && cut < 3300));
  CHECK((by_bytes > cut / 6 && by_bytes < cut / 3)); // about a quarter
  int differ = 0;
  for (int64_t i = 0; i < 1000; ++i)
    differ += plan_cut(7, i, 0.5, max_ns, 100).cut !=
              plan_cut(8, i, 0.5, max_ns, 100).cut;
  CHECK(differ > 300);
}

TEST_CASE("loadgen --cut 1: every request ends exactly once, answered or cut, one "
          "log line each, and the server is left with nothing in flight",
          "[loadgen][cut]") {
  server srv;
  auto log = temp_path();
  auto s = run_loadgen("--url http://127.0.0.1:" + std::to_string(srv.port) +
                       "/t/slow --rate 200 --duration 1 --connections 8 "
                       "--cut 1 --cut-max-ms 40 --seed 3 --json --log " +
                       log);
  REQUIRE(s.is_object());
  INFO(s.dump());
  CHECK(s["due"] == 200);
  CHECK(s["ended"] == 200);
  CHECK(s["unsolicited"] == 0);
  CHECK(s["ended_twice"] == 0);
  auto& o = s["outcomes"];
  CHECK(o.size() == 2); // only "200" and "cut"
  CHECK(o.value("cut", 0) > 50);
  CHECK(o.value("200", 0) > 10);
  CHECK(o.value("cut", 0) + o.value("200", 0) == 200);
  auto ends = read_log(log);
  ::unlink(log.c_str());
  REQUIRE(ends.size() == 200);
  int cuts = 0;
  for (auto& [i, whats] : ends) {
    CHECK((i >= 0 && i < 200));
    CHECK(whats.size() == 1);
    cuts += whats.front() == "cut";
  }
  CHECK(cuts == o.value("cut", 0));
  // Every cut request's slot came back.
  bool idle = false;
  for (int k = 0; k < 500 && !idle; ++k) {
    auto h = test::http(srv.port, "GET", "/-/healthz");
    idle = h.body.find("\"in_flight\":0") != std::string::npos;
    if (!idle)
      std::this_thread::sleep_for(milliseconds(10));
  }
  CHECK(idle);
}

TEST_CASE("loadgen --vary fills {n} in the path and headers, and outcomes are counted "
          "by status",
          "[loadgen]") {
  server srv;
  auto s = run_loadgen("--url 'http://127.0.0.1:" + std::to_string(srv.port) +
                       "/t/v/{n}' --header 'X-N: {n}' --vary 3 --rate 300 "
                       "--duration 1 --json");
  REQUIRE(s.is_object());
  INFO(s.dump());
  CHECK(s["outcomes"] == json{{"200", 100}, {"503", 100}, {"404", 100}});
  CHECK(s["non2xx"] == 200);
  CHECK(s["worst_us"].get<int64_t>() >= s["max_us"].get<int64_t>());
}

TEST_CASE("a server that goes away mid-run: requests end as transport "
          "errors, none is lost",
          "[loadgen]") {
  // Answers every request for 300 ms, then closes its connections and its
  // listener. (Close-on-exec: loadgen, a child of this process, must not
  // hold the listener open.)
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(listener >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr),
                 sizeof(addr)) == 0);
  REQUIRE(::listen(listener, 64) == 0);
  socklen_t len = sizeof(addr);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  auto port = ntohs(addr.sin_port);
  std::thread server{[listener] {
    std::vector<pollfd> fds{{listener, POLLIN, 0}};
    auto end = steady_clock::now() + milliseconds(300);
    while (steady_clock::now() < end) {
      if (::poll(fds.data(), fds.size(), 10) <= 0)
        continue;
      for (size_t k = 0; k < fds.size(); ++k) {
        if (!(fds[k].revents & POLLIN))
          continue;
        if (k == 0) {
          fds.push_back(
              {::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC), POLLIN, 0});
          continue;
        }
        char buf[4096];
        if (::recv(fds[k].fd, buf, sizeof(buf), 0) > 0) {
          const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
          ::send(fds[k].fd, ok, sizeof(ok) - 1, MSG_NOSIGNAL);
        }
      }
    }
    for (auto& p : fds)
      ::close(p.fd);
  }};
  auto log = temp_path();
  auto s = run_loadgen("--url http://127.0.0.1:" + std::to_string(port) +
                       "/ --rate 100 --duration 1 --timeout 5 --json --log " +
                       log);
  server.join();
  REQUIRE(s.is_object());
  INFO(s.dump());
  CHECK(s["due"] == 100);
  CHECK(s["ended"] == 100);
  auto& o = s["outcomes"];
  CHECK(o.value("timeout", 0) == 0);
  CHECK(o.value("200", 0) > 10);
  CHECK(o.value("connect", 0) > 10); // nothing listens any more
  CHECK(o.value("200", 0) + o.value("connect", 0) + o.value("closed", 0) +
            o.value("reset", 0) + o.value("write", 0) ==
        100);
  CHECK(read_log(log).size() == 100);
  ::unlink(log.c_str());
}
