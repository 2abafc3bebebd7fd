// The load generator (tools/loadgen) as a real process: against a real
// in-process actorserve server, against a scripted raw-socket server that
// answers in awkward ways, against nothing, and with bad flags.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actorserve/actorserve.hpp"
#include "http_client.hpp"

using namespace std::chrono;
using namespace actorserve;
using json = nlohmann::json;

namespace {

// -- running loadgen ------------------------------------------------------

struct loadgen_result {
  int status = -1; // exit status
  std::string out;
  std::string err;
  json summary; // stdout parsed as JSON (discarded if it is not)
  milliseconds elapsed{0};
};

std::string read_all(FILE* f) {
  std::string text;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0)
    text.append(buf, n);
  return text;
}

/// Runs `loadgen ARGS`, capturing stdout (via popen) and stderr (via a
/// temporary file).
loadgen_result run_loadgen(const std::string& args) {
  char err_path[] = "/tmp/loadgen-test-XXXXXX";
  int err_fd = ::mkstemp(err_path);
  REQUIRE(err_fd >= 0);
  ::close(err_fd);
  auto cmd = std::string{LOADGEN_BINARY} + " " + args + " 2>" + err_path;
  INFO(cmd);
  loadgen_result r;
  auto start = steady_clock::now();
  FILE* pipe = ::popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  r.out = read_all(pipe);
  int wstatus = ::pclose(pipe);
  r.elapsed = duration_cast<milliseconds>(steady_clock::now() - start);
  REQUIRE(WIFEXITED(wstatus));
  r.status = WEXITSTATUS(wstatus);
  std::ifstream err_file{err_path};
  std::stringstream err_text;
  err_text << err_file.rdbuf();
  r.err = err_text.str();
  ::unlink(err_path);
  r.summary = json::parse(r.out, nullptr, false);
  return r;
}

std::string url(uint16_t port, const std::string& path) {
  return "--url http://127.0.0.1:" + std::to_string(port) + path;
}

/// Checks the shape every --json summary has.
void check_json_shape(const loadgen_result& r) {
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.summary.is_object());
  for (auto key :
       {"offered_rps", "achieved_rps", "sent", "completed", "ok", "non2xx",
        "errors", "timeouts", "mean_us", "p50_us", "p90_us", "p99_us",
        "p999_us", "max_us", "connections", "duration_s"})
    CHECK(r.summary[key].is_number());
  // Exactly one line.
  CHECK(r.out.find('\n') == r.out.size() - 1);
}

// -- a real actorserve server ---------------------------------------------

http_ingress::behavior_type noop(http_ingress::pointer) {
  return {[](http_request&) -> reply { return json_response({{"ok", true}}); }};
}

/// Echoes the body length; counts bodies that are exactly as loadgen sends.
struct body_counter {
  std::atomic<int> exact{0};
  std::atomic<int> other{0};
};

http_ingress::behavior_type echo_length(http_ingress::pointer,
                                        std::shared_ptr<body_counter> counts) {
  return {[=](http_request& req) -> reply {
    bool exact = req.method == "POST" && req.body.size() == 10240 &&
                 req.body.find_first_not_of('x') == std::string::npos &&
                 req.header("content-type") == "application/octet-stream";
    ++(exact ? counts->exact : counts->other);
    return json_response({{"bytes", req.body.size()}});
  }};
}

struct server {
  serve s{[] {
    serve_options opts;
    opts.admin.port = 0; // a free port: tests run side by side
    opts.http.port = 0;
    opts.http.request_timeout = seconds(3);
    return opts;
  }()};
  uint16_t port = 0;
  std::shared_ptr<body_counter> counts = std::make_shared<body_counter>();

  server() {
    REQUIRE(s.run(s.deployment("Noop", noop).bind(), {"noop", "/noop"}));
    REQUIRE(s.run(s.deployment("Echo", echo_length).bind(counts),
                  {"echo", "/echo"}));
    port = s.http_port();
    REQUIRE(port != 0);
  }
};

// -- a scripted raw-socket server -----------------------------------------

/// Answers GET requests with chunked bodies written in several pieces,
/// sometimes after a 100 Continue and sometimes with `Connection: close`;
/// or, when silent, never answers at all.
class scripted_server {
public:
  explicit scripted_server(bool silent) : silent_(silent) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&addr),
                   sizeof(addr)) == 0);
    REQUIRE(::listen(listener_, 64) == 0);
    socklen_t len = sizeof(addr);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    acceptor_ = std::thread{[this] { accept_loop(); }};
  }

  ~scripted_server() {
    stop_ = true;
    acceptor_.join();
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto fd : fds_)
      ::shutdown(fd, SHUT_RDWR); // wakes threads blocked in recv
    for (auto& t : workers_)
      t.join();
    for (auto fd : fds_)
      ::close(fd);
    ::close(listener_);
  }

  uint16_t port = 0;
  std::atomic<int> accepted{0};
  std::atomic<int> answered{0};

private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0)
        continue;
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0)
        continue;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      ++accepted;
      std::lock_guard<std::mutex> guard{mtx_};
      fds_.push_back(fd);
      workers_.emplace_back([this, fd] { serve_connection(fd); });
    }
  }

  void serve_connection(int fd) {
    std::string in;
    char buf[4096];
    for (;;) {
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0)
        return;
      in.append(buf, static_cast<size_t>(n));
      size_t end = 0;
      while (!silent_ && (end = in.find("\r\n\r\n")) != std::string::npos) {
        in.erase(0, end + 4);
        if (!answer(fd, ++answered)) {
          ::shutdown(fd, SHUT_RDWR); // closed in the destructor
          return;
        }
      }
    }
  }

  /// Sends response number `n`; returns false if the connection closes.
  static bool answer(int fd, int n) {
    bool close = n % 5 == 0;
    std::vector<std::string> pieces{
        "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n",
        std::string{close ? "Connection: close\r\n" : ""} +
            "Content-Type: text/plain\r\n\r\n5\r\nhel",
        "lo\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"};
    if (n % 3 == 0) // an interim response in the same write as the final one
      pieces.front().insert(0, "HTTP/1.1 100 Continue\r\n\r\n");
    // Separate writes: loadgen may read them apart or together, and must
    // parse the response either way.
    for (auto& piece : pieces)
      ::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL);
    return !close;
  }

  bool silent_;
  int listener_ = -1;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mtx_;
  std::vector<int> fds_;
  std::vector<std::thread> workers_;
};

} // namespace

TEST_CASE("GET at a fixed rate: every measured request answered in time",
          "[loadgen]") {
  server srv;
  auto r = run_loadgen(url(srv.port, "/noop") +
                       " --rate 400 --duration 1 --warmup 0.25"
                       " --connections 4 --json");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.status == 0);
  check_json_shape(r);
  auto& j = r.summary;
  auto completed = j["completed"].get<int64_t>();
  CHECK(completed >= 388);
  CHECK(completed <= 412);
  CHECK(j["ok"] == completed);
  CHECK(j["sent"] == completed);
  CHECK(j["non2xx"] == 0);
  CHECK(j["errors"] == 0);
  CHECK(j["timeouts"] == 0);
  CHECK(j["connections"] == 4);
  CHECK(j["offered_rps"].get<double>() == Approx(400).epsilon(0.03));
  CHECK(j["achieved_rps"].get<double>() == Approx(400).epsilon(0.03));
  auto p50 = j["p50_us"].get<int64_t>();
  auto p90 = j["p90_us"].get<int64_t>();
  auto p99 = j["p99_us"].get<int64_t>();
  auto p999 = j["p999_us"].get<int64_t>();
  auto max = j["max_us"].get<int64_t>();
  CHECK(0 < p50);
  CHECK(p50 <= p90);
  CHECK(p90 <= p99);
  CHECK(p99 <= p999);
  CHECK(p999 <= max);
  CHECK(j["mean_us"].get<double>() > 0);
  CHECK(j["mean_us"].get<double>() <= static_cast<double>(max));
  // Sending stops after warm-up + duration; the run must not linger.
  CHECK(r.elapsed < milliseconds(3000));
}

TEST_CASE("POST sends the whole body on every request", "[loadgen]") {
  server srv;
  auto r = run_loadgen(url(srv.port, "/echo") +
                       " --method POST --body-bytes 10240 --rate 200"
                       " --duration 0.5 --warmup 0.1 --connections 2 --json");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.status == 0);
  check_json_shape(r);
  CHECK(r.summary["completed"] == 100);
  CHECK(r.summary["ok"] == 100);
  CHECK(r.summary["errors"] == 0);
  // The server saw 10240 bytes of 'x', for warm-up requests too.
  CHECK(srv.counts->exact.load() == 120);
  CHECK(srv.counts->other.load() == 0);
}

TEST_CASE("non-2xx answers are counted apart from ok ones", "[loadgen]") {
  server srv;
  auto r = run_loadgen(url(srv.port, "/nowhere") +
                       " --rate 100 --duration 0.3 --json");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.status == 0); // answered, if not successfully
  check_json_shape(r);
  CHECK(r.summary["completed"] == 30);
  CHECK(r.summary["non2xx"] == 30);
  CHECK(r.summary["ok"] == 0);
}

TEST_CASE("chunked bodies in pieces, 100 Continue and Connection: close",
          "[loadgen]") {
  scripted_server srv{false};
  auto r = run_loadgen(url(srv.port, "/x") +
                       " --rate 200 --duration 0.5 --connections 2 --json");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.status == 0);
  check_json_shape(r);
  CHECK(r.summary["completed"] == 100);
  CHECK(r.summary["ok"] == 100);
  CHECK(r.summary["errors"] == 0);
  CHECK(r.err.empty());
  // Every fifth answer closed its connection, and loadgen reopened it for
  // the next request (the 100th closed one is not needed again).
  CHECK(srv.accepted.load() >= 2 + 100 / 5 - 1);
}

TEST_CASE("requests still unanswered after --timeout count as timeouts",
          "[loadgen]") {
  scripted_server srv{true};
  auto r = run_loadgen(url(srv.port, "/") +
                       " --rate 100 --duration 0.2 --timeout 0.3"
                       " --connections 2 --json");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.status == 1);
  check_json_shape(r);
  CHECK(r.summary["completed"] == 0);
  // Two were sent (one per connection), the other 18 waited for one.
  CHECK(r.summary["sent"] == 2);
  CHECK(r.summary["timeouts"] == 20);
  CHECK(r.elapsed < milliseconds(2000));
}

TEST_CASE("nothing listening: exit status 1 and a clear message, no hang",
          "[loadgen]") {
  auto port = test::free_port();
  auto r = run_loadgen(url(port, "/") + " --rate 100 --duration 1 --json");
  CHECK(r.status == 1);
  CHECK(r.out.empty()); // no run, so no summary
  CHECK_THAT(r.err, Catch::Contains("cannot open") &&
                        Catch::Contains(std::to_string(port)) &&
                        Catch::Contains("Connection refused"));
  CHECK(r.elapsed < milliseconds(2000));
}

TEST_CASE("bad usage: exit status 2 and the message names the flag",
          "[loadgen]") {
  auto port = std::to_string(test::free_port());
  auto good_url = "--url http://127.0.0.1:" + port + "/";
  struct bad_case {
    std::string args;
    std::string flag;
  };
  std::vector<bad_case> cases{
      {good_url + " --duration 1", "--rate"},
      {good_url + " --rate 10", "--duration"},
      {"--rate 10 --duration 1", "--url"},
      {good_url + " --rate -5 --duration 1", "--rate"},
      {good_url + " --rate 10 --duration 1 --connections 0", "--connections"},
      {good_url + " --rate 10 --duration 1 --method PUT", "--method"},
      {"--url http://example.com/ --rate 10 --duration 1", "--url"},
      {good_url + " --rate 10 --duration 1 --frobnicate 3", "--frobnicate"},
      {good_url + " --rate 10 --duration", "--duration"},
  };
  for (auto& c : cases) {
    auto r = run_loadgen(c.args);
    INFO(c.args << "\nstderr: " << r.err);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains(c.flag));
  }
}
