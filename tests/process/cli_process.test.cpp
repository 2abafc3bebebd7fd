// The actorserve CLI as real processes: `run CONFIG` serves, and `status`,
// `config`, `deploy` and `shutdown` reach it over its admin API.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "child.hpp"
#include "http_client.hpp"

namespace {

/// A config file in /tmp, removed when the test ends.
struct temp_config {
  std::string path;
  explicit temp_config(const std::string& text) {
    char name[] = "/tmp/actorserve-cli-XXXXXX";
    int fd = ::mkstemp(name);
    REQUIRE(fd >= 0);
    ::close(fd);
    path = name;
    std::ofstream{path} << text;
  }
  ~temp_config() { std::remove(path.c_str()); }
};

/// Runs a CLI command to its end; its exit status and output.
std::pair<int, std::string> cli(std::vector<std::string> args) {
  args.insert(args.begin(), DEMO_BINARY);
  test::child c{args};
  auto out = c.read_until("\x01"); // everything, until it closes
  return {c.wait_exit(), out};
}

uint16_t port_after(const std::string& text, const std::string& what) {
  std::smatch m;
  std::regex re{what + "http://127\\.0\\.0\\.1:([0-9]+)"};
  REQUIRE(std::regex_search(text, m, re));
  return static_cast<uint16_t>(std::stoi(m[1]));
}

const char* config_text = R"(# the demo's classify and blocking apps
http_options: {port: 0}
admin_options: {port: 0}
applications:
  - name: classify
    route_prefix: /classify
    import_path: demo:classify
    args: {tokenizers: 2}
  - name: blocking
    route_prefix: /blocking
    import_path: demo:blocking
)";

} // namespace

TEST_CASE("run serves a config, status, config, deploy and shutdown reach "
          "it, Ctrl-C drains and exits 0",
          "[process][cli]") {
  temp_config cfg{config_text};
  test::child server{{DEMO_BINARY, "run", cfg.path}};
  auto banner = server.read_until("admin API on");
  INFO(banner);
  auto http = port_after(banner, "serving on ");
  auto admin = std::to_string(port_after(banner, "admin API on "));
  CHECK(test::http(http, "POST", "/classify", R"({"text": "I love this"})")
            .status == 200);
  // status: Ray's shape.
  auto [rc, out] = cli({"status", "--admin-port", admin});
  INFO(out);
  CHECK(rc == 0);
  CHECK_THAT(out, Catch::Contains("applications:"));
  CHECK_THAT(out, Catch::Contains("classify:"));
  CHECK_THAT(out, Catch::Contains("status: RUNNING"));
  CHECK_THAT(out, Catch::Contains("RUNNING: 2")); // two Tokenizer replicas
  // config: what was applied.
  std::tie(rc, out) = cli({"config", "--admin-port", admin});
  CHECK(rc == 0);
  CHECK_THAT(out, Catch::Contains("import_path: demo:blocking"));
  // deploy: a change, declaratively (blocking goes).
  temp_config next{R"(applications:
  - name: classify
    route_prefix: /classify
    import_path: demo:classify
    args: {tokenizers: 2}
    deployments:
      - name: Tokenizer
        num_replicas: 3
)"};
  std::tie(rc, out) = cli({"deploy", next.path, "--admin-port", admin});
  CHECK(rc == 0);
  CHECK(test::http(http, "GET", "/blocking?ms=1").status == 404);
  std::tie(rc, out) = cli({"status", "--admin-port", admin});
  CHECK_THAT(out, Catch::Contains("RUNNING: 3"));
  // A bad config is refused here, with its line, before it is sent.
  temp_config bad{"applications:\n  - import_path: demo:classify\n"
                  "    deployments:\n      - {name: Tokenizer, "
                  "num_replicas: zero}\n"};
  std::tie(rc, out) = cli({"deploy", bad.path, "--admin-port", admin});
  CHECK(rc == 2);
  CHECK_THAT(out, Catch::Contains(bad.path + ":4: applications[0]."
                                             "deployments[0].num_replicas"));
  // shutdown -y deletes every application; the server keeps running.
  std::tie(rc, out) = cli({"shutdown", "-y", "--admin-port", admin});
  CHECK(rc == 0);
  CHECK(test::http(http, "POST", "/classify", "{}").status == 404);
  ::kill(server.pid, SIGINT);
  CHECK(server.wait_exit() == 0);
  // Nothing listens now: a clear message and status 1.
  std::tie(rc, out) = cli({"status", "--admin-port", admin});
  CHECK(rc == 1);
  CHECK_THAT(out, Catch::Contains("cannot reach the admin API"));
}

TEST_CASE("run fails at start-up on a bad config, naming the field and line",
          "[process][cli]") {
  temp_config cfg{"http_options:\n  port: 0\n  timeout_s: 3\n"};
  auto [rc, out] = cli({"run", cfg.path});
  CHECK(rc == 2);
  CHECK_THAT(out, Catch::Contains(cfg.path + ":3: http_options.timeout_s: is "
                                             "not a known field"));
  // --help: the commands, each command's flags, run's server flags.
  auto [rc2, out2] = cli({"--help"});
  CHECK(rc2 == 0);
  for (auto cmd :
       {"run CONFIG", "deploy CONFIG", "status", "config", "shutdown [-y]"})
    CHECK_THAT(out2, Catch::Contains(cmd));
  auto [rc3, out3] = cli({"run", "--help"});
  CHECK(rc3 == 0);
  CHECK_THAT(out3, Catch::Contains("--drain-timeout-ms"));
  auto [rc4, out4] = cli({"shutdown", "--help"});
  CHECK(rc4 == 0);
  CHECK_THAT(out4, Catch::Contains("--admin-port"));
  CHECK_THAT(out4, Catch::Contains("-y"));
}

TEST_CASE("a CLI call to a server that never answers gives up at --timeout-s",
          "[process][cli]") {
  // A listener that takes connections (the kernel's backlog) and never
  // answers: a hung server.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(fd, 8) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  auto port = std::to_string(ntohs(addr.sin_port));
  auto [code, out] = cli({"status", "--admin-port", port, "--timeout-s", "0.5"});
  CHECK(code == 1);
  CHECK_THAT(out, Catch::Contains("did not answer within 500 ms"));
  ::close(fd);
}
