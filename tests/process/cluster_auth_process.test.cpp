// The cluster port and a worker's ports against a peer that has no token:
// it speaks CAF's BASP to them and sends every actor id what would hurt.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <poll.h>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "basp_peer.hpp"
#include "child.hpp"
#include "http_client.hpp"

using namespace std::chrono;

namespace {

const std::string token_env = "ACTORSERVE_CLUSTER_TOKEN=auth-test-token";

/// A child's output, line by line, each wait bounded (never fgets: the
/// FILE's buffer would hide lines from poll).
struct log_reader {
  int fd;
  std::string pending;
  std::vector<std::string> lines;

  explicit log_reader(test::child& c) : fd(::fileno(c.out)) {}

  /// Reads until `limit` passes; stops early once a line satisfies `done`.
  template <class Pred>
  bool read_for(milliseconds limit, Pred done) {
    auto end = steady_clock::now() + limit;
    for (;;) {
      auto left = duration_cast<milliseconds>(end - steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, int(left.count())) != 1)
        return false;
      char buf[4096];
      auto n = ::read(fd, buf, sizeof(buf));
      if (n <= 0)
        return false;
      pending.append(buf, static_cast<size_t>(n));
      for (auto nl = pending.find('\n'); nl != std::string::npos;
           nl = pending.find('\n')) {
        lines.push_back(pending.substr(0, nl));
        pending.erase(0, nl + 1);
        if (done(lines.back()))
          return true;
      }
    }
  }

  bool until(const std::string& what, milliseconds limit = seconds(30)) {
    return read_for(limit, [&](const std::string& line) {
      return line.find(what) != std::string::npos;
    });
  }
};

nlohmann::json status_of(uint16_t port) {
  auto r = test::http(port, "GET", "/-/status");
  REQUIRE(r.status == 200);
  return nlohmann::json::parse(r.body);
}

/// What must not change: the nodes, and every replica with its state and
/// node.
std::string view_of(const nlohmann::json& st) {
  std::string out;
  for (auto& n : st["nodes"])
    out += "node " + n["node_id"].dump() + " " + n["state"].dump() + " " +
           n["address"].dump() + "\n";
  for (auto& [app, a] : st["applications"].items())
    for (auto& [dep, d] : a["deployments"].items())
      for (auto& r : d["replicas"])
        out += app + "/" + dep + " " + r["replica_id"].dump() + " " +
               r["state"].dump() + " " + r["node_id"].dump() + "\n";
  return out;
}

bool all_ready(const nlohmann::json& st) {
  for (auto& [app, a] : st["applications"].items())
    for (auto& [dep, d] : a["deployments"].items())
      for (auto& r : d["replicas"])
        if (r["state"] != "READY")
          return false;
  return true;
}

} // namespace

// A peer without the token sends every actor id in 1..10,000 exit (kill),
// shutdown and delete, on the cluster port (directly and routed on to the
// worker) and on every other port of both processes.
TEST_CASE("a peer without the token reaches no actor on any port of a head "
          "or a worker, nothing changes",
          "[process][cluster][auth]") {
  auto port = test::free_port();
  auto cport = test::free_port();
  auto wport = test::free_port();
  auto aport = test::free_port(); // status is on the admin port
  test::child head{{DEMO_BINARY, "--admin-port", std::to_string(aport),
                    "--port", std::to_string(port), "--cluster-port",
                    std::to_string(cport), "--expect-nodes", "1"},
                   {token_env}};
  test::child worker{{DEMO_BINARY, "--join",
                      "127.0.0.1:" + std::to_string(cport), "--proxy",
                      "--port", std::to_string(wport)},
                     {token_env}};
  log_reader head_log{head};
  log_reader worker_log{worker};
  // The head prints its last start-up line once its run() returned, which
  // is when every replica, on both nodes, is ready.
  REQUIRE(head_log.until("admin API on"));
  REQUIRE(worker_log.until("worker proxy serving on"));
  auto before = status_of(aport);
  REQUIRE(all_ready(before));
  auto head_seen = head_log.lines.size();
  auto worker_seen = worker_log.lines.size();
  // Every port of both processes, the cluster port first.
  test::basp_peer peer;
  auto outcome = peer.attack(cport, 10'000, worker.pid);
  INFO("frames sent to the cluster port: " << outcome.sent);
  CHECK_FALSE(outcome.handshake);
  CHECK(outcome.offered == 0);
  CHECK_FALSE(outcome.routed);
  std::set<uint16_t> others = test::listening_ports(worker.pid);
  CHECK(others.count(wport) == 1);
  for (auto p : test::listening_ports(head.pid))
    others.insert(p);
  others.erase(cport);
  for (auto p : others) {
    auto o = peer.attack(p, 10'000);
    INFO("port " << p);
    CHECK_FALSE(o.handshake);
  }
  // The head says it refused the peer, and nothing else.
  CHECK(head_log.until("refused a node joining from 127.0.0.1", seconds(10)));
  auto after = status_of(aport);
  CHECK(view_of(after) == view_of(before));
  CHECK(test::http(port, "POST", "/classify", R"({"text": "I love this"})")
            .status == 200);
  CHECK(test::http(wport, "POST", "/classify", R"({"text": "I love this"})")
            .status == 200);
  CHECK(view_of(status_of(aport)) == view_of(before));
  head_log.read_for(milliseconds(200), [](auto&) { return false; });
  worker_log.read_for(milliseconds(200), [](auto&) { return false; });
  std::vector<std::string> head_new(head_log.lines.begin() + head_seen,
                                    head_log.lines.end());
  std::string said;
  for (auto& line : head_new)
    said += line + "\n";
  INFO("the head said:\n" << said);
  CHECK(head_new.size() <= 5);
  for (auto& line : head_new)
    CHECK_THAT(line, Catch::Contains("refused a node joining from 127.0.0.1"));
  std::vector<std::string> worker_new(
      worker_log.lines.begin() + worker_seen, worker_log.lines.end());
  CHECK(worker_new.empty());
  CHECK(::kill(head.pid, 0) == 0);
  CHECK(::kill(worker.pid, 0) == 0);
}

namespace {

/// Connects to the cluster port and answers its challenge with zeros:
/// whether a challenge came (else the head closed the connection first).
bool fail_once(uint16_t port) {
  int fd = test::connect_loopback(port);
  REQUIRE(fd >= 0);
  std::string got;
  char buf[256];
  pollfd p{fd, POLLIN, 0};
  while (got.size() < 40 && ::poll(&p, 1, 5000) == 1) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break;
    got.append(buf, static_cast<size_t>(n));
  }
  bool challenged = got.size() == 40 && got.rfind("ASCLHEAD", 0) == 0;
  if (challenged) {
    std::string zeros(73, '\0');
    ::send(fd, zeros.data(), zeros.size(), MSG_NOSIGNAL);
    while (::poll(&p, 1, 5000) == 1 && ::recv(fd, buf, sizeof(buf), 0) > 0)
      ; // until the head closes it
  }
  ::close(fd);
  return challenged;
}

} // namespace

TEST_CASE("failed handshakes are rate-limited per address and logged in "
          "bounded lines, a node with the token still joins",
          "[process][cluster][auth]") {
  auto port = test::free_port();
  auto cport = test::free_port();
  test::child head{{DEMO_BINARY, "--admin-port", "0", "--port",
                    std::to_string(port), "--cluster-port",
                    std::to_string(cport)},
                   {token_env}};
  log_reader head_log{head};
  REQUIRE(head_log.until("admin API on")); // its last line at start
  auto seen = head_log.lines.size();
  // Five failures at once, then the address is closed before a challenge.
  std::vector<bool> challenged;
  for (int i = 0; i < 20; ++i)
    challenged.push_back(fail_once(cport));
  CHECK(std::vector<bool>(challenged.begin(), challenged.begin() + 5) ==
        std::vector<bool>(5, true));
  CHECK(std::count(challenged.begin() + 5, challenged.end(), true) <= 1);
  // Five lines, then one that counts the rest once the window ends.
  REQUIRE(head_log.until("not logged one by one", seconds(15)));
  std::vector<std::string> said(head_log.lines.begin() + seen,
                                head_log.lines.end());
  REQUIRE(said.size() == 6);
  for (size_t i = 0; i < 5; ++i)
    CHECK_THAT(said[i], Catch::Contains("refused a node joining from "
                                        "127.0.0.1"));
  CHECK_THAT(said[5], Catch::Contains("refused 15 more connection(s)"));
  // A worker with the token, from the same address, joins once its bucket
  // refills (it keeps trying within its join timeout).
  test::child worker{
      {DEMO_BINARY, "--join", "127.0.0.1:" + std::to_string(cport)},
      {token_env}};
  log_reader worker_log{worker};
  CHECK(worker_log.until("worker node 2 of the head", seconds(15)));
  CHECK(head_log.until("node 2 joined", seconds(5)));
}
