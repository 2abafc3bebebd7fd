// HTTPS on the HTTP port, with certificates made at test time by the
// openssl tool and a real client (curl).
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "child.hpp"
#include "http_client.hpp"
#include "temp_dir.hpp"

namespace {

/// Runs a command to its end: its exit status and its output.
std::pair<int, std::string> run(std::vector<std::string> args) {
  test::child c{std::move(args)};
  auto out = c.read_until("\x01"); // everything, until it closes
  return {c.wait_exit(), out};
}

/// A test CA, and a certificate it signed for localhost and 127.0.0.1.
struct test_pki {
  test::temp_dir dir;
  std::string ca = dir.path + "/ca.pem";
  std::string cert = dir.path + "/server.pem";
  std::string key = dir.path + "/server.key";
  std::string other_key = dir.path + "/other.key";

  test_pki() {
    auto ext = dir.file("ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    auto ca_key = dir.path + "/ca.key";
    auto csr = dir.path + "/server.csr";
    std::vector<std::vector<std::string>> steps{
        {"req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key, "-out", ca,
         "-days", "2", "-subj", "/CN=actorserve test CA"},
        {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost"},
        {"x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
         "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext},
        {"genpkey", "-algorithm", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-out", other_key}};
    for (auto& step : steps) {
      step.insert(step.begin(), OPENSSL_BINARY);
      auto [rc, out] = run(step);
      INFO(out);
      REQUIRE(rc == 0);
    }
  }
};

/// curl with a bound on the whole transfer: its exit status and output.
std::pair<int, std::string> curl(std::vector<std::string> args) {
  args.insert(args.begin(), {CURL_BINARY, "-sS", "--max-time", "20"});
  return run(std::move(args));
}

/// Connects to `port` and sends nothing; true when the server closes the
/// connection within `limit`.
bool closed_without_handshake(uint16_t port, std::chrono::milliseconds limit) {
  int fd = test::connect_loopback(port);
  REQUIRE(fd >= 0);
  pollfd p{fd, POLLIN, 0};
  bool closed = false;
  if (::poll(&p, 1, static_cast<int>(limit.count())) == 1) {
    char c;
    closed = ::recv(fd, &c, 1, 0) <= 0;
  }
  ::close(fd);
  return closed;
}

} // namespace

TEST_CASE("HTTPS: curl with the test CA gets answers and a stream, plain "
          "HTTP to the port is refused, and a handshake never made is closed",
          "[process][tls]") {
  test_pki pki;
  auto port = test::free_port();
  auto p = std::to_string(port);
  test::child demo{{DEMO_BINARY, "--admin-port", "0", "--port", p,
                    "--tls-cert", pki.cert, "--tls-key", pki.key,
                    "--tls-handshake-timeout-ms", "300"}};
  auto banner = demo.read_until("serving on");
  REQUIRE_THAT(banner, Catch::Contains("serving on https://127.0.0.1:" + p));
  SECTION("unary and by name") {
    for (auto host : {"127.0.0.1", "localhost"}) {
      auto [rc, out] =
          curl({"--cacert", pki.ca, "-H", "Content-Type: application/json",
                "-d", R"({"text": "I love this"})",
                std::string{"https://"} + host + ":" + p + "/classify"});
      INFO(out);
      CHECK(rc == 0);
      CHECK_THAT(out, Catch::Contains(R"("label":"positive")"));
    }
  }
  SECTION("a streamed response") {
    auto [rc, out] = curl({"--cacert", pki.ca, "-N", "-d",
                           R"({"prompt": "one two three", "n": 3})",
                           "https://127.0.0.1:" + p + "/stream"});
    INFO(out);
    CHECK(rc == 0);
    CHECK_THAT(out, Catch::Contains("one") && Catch::Contains("three"));
  }
  SECTION("a client that does not trust the CA stops at the certificate") {
    auto [rc, out] = curl({"https://127.0.0.1:" + p + "/-/healthz"});
    INFO(out);
    CHECK(rc == 60); // CURLE_PEER_FAILED_VERIFICATION
  }
  SECTION("plain HTTP gets no answer, and HTTPS still works after it") {
    auto plain = test::http(port, "GET", "/-/healthz");
    CHECK(plain.status == 0);
    auto [rc, out] = curl({"http://127.0.0.1:" + p + "/-/healthz"});
    INFO(out);
    CHECK(rc == 52); // CURLE_GOT_NOTHING: the server closed
    auto [rc2, out2] =
        curl({"--cacert", pki.ca, "https://127.0.0.1:" + p + "/-/healthz"});
    INFO(out2);
    CHECK(rc2 == 0);
  }
  SECTION("a connection that never starts its handshake is closed") {
    CHECK(closed_without_handshake(port, std::chrono::seconds(10)));
  }
}

TEST_CASE("HTTPS flags: a missing certificate, a key that is not the "
          "certificate's, or half of the pair stops start-up naming the flag",
          "[process][tls]") {
  test_pki pki;
  auto start = [](std::vector<std::string> extra) {
    std::vector<std::string> args{DEMO_BINARY, "--admin-port", "0", "--port",
                                  "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(args);
  };
  auto [rc1, out1] = start({"--tls-cert", pki.dir.path + "/none.pem",
                            "--tls-key", pki.key});
  INFO(out1);
  CHECK(rc1 != 0);
  CHECK_THAT(out1, Catch::Contains("--tls-cert"));
  auto [rc2, out2] =
      start({"--tls-cert", pki.cert, "--tls-key", pki.other_key});
  INFO(out2);
  CHECK(rc2 != 0);
  CHECK_THAT(out2, Catch::Contains("--tls-key"));
  auto [rc3, out3] = start({"--tls-cert", pki.cert});
  INFO(out3);
  CHECK(rc3 != 0);
  CHECK_THAT(out3, Catch::Contains("--tls-key"));
}
