// loadgen: an open-loop, fixed-rate HTTP/1.1 load generator.
//
// Closed loop vs open loop. A closed-loop generator (wrk, ab) keeps N
// connections busy and sends the next request on a connection only when the
// previous answer arrived. When the server stalls, the generator stalls with
// it: it simply sends less, so the queue that real clients would build up
// never forms, and the slow period shows up as a handful of slow samples
// instead of the many requests that would have waited behind it. Real
// traffic does not wait for the server; it arrives at its own rate.
//
// This generator is open loop: request i is due at the fixed time
// t0 + i / rate, whatever the server does. Its latency is measured from that
// *intended* start, not from the moment it was written to a socket, so time
// spent waiting for a free connection (because the server is slow) counts.
// Measuring from the actual send time instead is "coordinated omission": the
// generator and the server would agree to leave the queueing delay out.
//
// Design: one thread, non-blocking sockets, epoll, and a timerfd armed (with
// nanosecond resolution, absolute CLOCK_MONOTONIC time) at the next intended
// start. A pool of persistent keep-alive connections is opened before t0;
// each carries at most one request at a time. A due request goes to a free
// connection or waits, in order, for one. A closed connection is reopened
// by the next request that uses it, and a failed reopen fails that request.
//
// Exit status: 0 if every measured request got an HTTP response (any
// status), 1 if any failed or timed out, or if the pool cannot be opened at
// start (nothing listening: no run, no summary), 2 for bad usage.

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

namespace {

constexpr int64_t ns_per_s = 1'000'000'000;
constexpr size_t max_header_bytes = 64 * 1024;
constexpr int max_reported_errors = 5;

// -- small utilities -----------------------------------------------------

int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * ns_per_s + ts.tv_nsec;
}

int64_t seconds_to_ns(double s) {
  return static_cast<int64_t>(std::llround(s * static_cast<double>(ns_per_s)));
}

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::string trim(const std::string& s) {
  auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos)
    return {};
  auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

/// True if the comma-separated header value contains `token`
/// (case-insensitive), e.g. "keep-alive, Close" contains "close".
bool has_token(const std::string& value, const std::string& token) {
  size_t start = 0;
  while (start <= value.size()) {
    auto comma = value.find(',', start);
    if (comma == std::string::npos)
      comma = value.size();
    if (lower(trim(value.substr(start, comma - start))) == token)
      return true;
    start = comma + 1;
  }
  return false;
}

/// Owns a file descriptor.
class unique_fd {
public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  void reset() noexcept {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_ = -1;
};

/// A system call failed in a way that ends the run.
struct fatal_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string errno_text(const std::string& what, int err = errno) {
  return what + ": " + std::strerror(err);
}

// -- command line --------------------------------------------------------

/// Bad usage: the message names the flag.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr const char* usage_text =
    "usage: loadgen --url http://HOST[:PORT][/PATH] --rate R --duration S\n"
    "               [--warmup S] [--connections N] [--method GET|POST]\n"
    "               [--body-bytes N] [--timeout S] [--json]\n"
    "  --url          target; HOST is an IPv4 literal or localhost\n"
    "  --rate         requests per second, sent open loop (> 0)\n"
    "  --duration     measured seconds (> 0)\n"
    "  --warmup       seconds sent before measuring (default 0)\n"
    "  --connections  keep-alive connections in the pool (default 8)\n"
    "  --method       GET (default) or POST\n"
    "  --body-bytes   POST body size in bytes of 'x' (default 0)\n"
    "  --timeout      seconds to wait for answers after sending stops\n"
    "                 (default 5); also bounds opening the pool\n"
    "  --json         print one JSON object instead of the summary\n"
    "Latency is measured from each request's intended start time.\n"
    "Exit status: 0 ok, 1 errors or timeouts (or no connection), 2 usage.\n";

struct target {
  std::string url;
  in_addr address{};
  uint16_t port = 80;
  std::string host_header; // "host[:port]" as written in the URL
  std::string path = "/";  // path and query
};

struct options {
  target url;
  double rate = 0;
  double duration = 0;
  double warmup = 0;
  int connections = 8;
  std::string method = "GET";
  size_t body_bytes = 0;
  double timeout = 5;
  bool json = false;
};

target parse_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    throw usage_error("--url: must start with http:// (got '" + url + "')");
  target t;
  t.url = url;
  auto rest = url.substr(scheme.size());
  auto slash = rest.find_first_of("/?");
  auto authority = rest.substr(0, slash);
  if (slash != std::string::npos)
    t.path = rest[slash] == '/' ? rest.substr(slash) : "/" + rest.substr(slash);
  if (authority.empty())
    throw usage_error("--url: missing host in '" + url + "'");
  t.host_header = authority;
  auto host = authority;
  auto colon = authority.rfind(':');
  if (colon != std::string::npos) {
    host = authority.substr(0, colon);
    auto port_text = authority.substr(colon + 1);
    char* end = nullptr;
    errno = 0;
    auto port = std::strtol(port_text.c_str(), &end, 10);
    if (port_text.empty() || *end != '\0' || errno != 0 || port < 1 ||
        port > 65535)
      throw usage_error("--url: invalid port '" + port_text + "'");
    t.port = static_cast<uint16_t>(port);
  }
  if (host == "localhost")
    host = "127.0.0.1";
  if (inet_pton(AF_INET, host.c_str(), &t.address) != 1)
    throw usage_error("--url: host must be an IPv4 address or localhost "
                      "(got '" +
                      host + "')");
  return t;
}

double parse_number(const std::string& flag, const std::string& text,
                    double min, bool min_allowed) {
  char* end = nullptr;
  errno = 0;
  double x = std::strtod(text.c_str(), &end);
  bool ok = !text.empty() && *end == '\0' && errno == 0 && std::isfinite(x) &&
            (min_allowed ? x >= min : x > min);
  if (!ok)
    throw usage_error(
        flag + ": expected a number " + (min_allowed ? ">= " : "> ") +
        std::to_string(static_cast<long long>(min)) + ", got '" + text + "'");
  return x;
}

long long parse_integer(const std::string& flag, const std::string& text,
                        long long min, long long max) {
  char* end = nullptr;
  errno = 0;
  auto x = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || x < min || x > max)
    throw usage_error(flag + ": expected an integer in [" +
                      std::to_string(min) + ", " + std::to_string(max) +
                      "], got '" + text + "'");
  return x;
}

/// Parses `--flag value` and `--flag=value`. Returns false for --help.
bool parse_options(int argc, char** argv, options& opts) {
  bool have_url = false;
  bool have_rate = false;
  bool have_duration = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::string value;
    bool inline_value = false;
    if (auto eq = flag.find('='); eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      inline_value = true;
    }
    if (flag == "--help" || flag == "-h")
      return false;
    if (flag == "--json") {
      if (inline_value)
        throw usage_error("--json: takes no value");
      opts.json = true;
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= argc)
        throw usage_error(flag + ": missing value");
      value = argv[++i];
    }
    if (flag == "--url") {
      opts.url = parse_url(value);
      have_url = true;
    } else if (flag == "--rate") {
      opts.rate = parse_number(flag, value, 0, false);
      have_rate = true;
    } else if (flag == "--duration") {
      opts.duration = parse_number(flag, value, 0, false);
      have_duration = true;
    } else if (flag == "--warmup") {
      opts.warmup = parse_number(flag, value, 0, true);
    } else if (flag == "--connections") {
      opts.connections = static_cast<int>(parse_integer(flag, value, 1, 10000));
    } else if (flag == "--method") {
      if (value != "GET" && value != "POST")
        throw usage_error("--method: expected GET or POST, got '" + value +
                          "'");
      opts.method = value;
    } else if (flag == "--body-bytes") {
      opts.body_bytes =
          static_cast<size_t>(parse_integer(flag, value, 0, 1LL << 30));
    } else if (flag == "--timeout") {
      opts.timeout = parse_number(flag, value, 0, false);
    } else {
      throw usage_error("unknown flag '" + flag + "'");
    }
  }
  if (!have_url)
    throw usage_error("--url: required");
  if (!have_rate)
    throw usage_error("--rate: required");
  if (!have_duration)
    throw usage_error("--duration: required");
  if (opts.body_bytes > 0 && opts.method != "POST")
    throw usage_error("--body-bytes: needs --method POST");
  if (opts.rate * (opts.warmup + opts.duration) > 1e8)
    throw usage_error("--rate: more than 100 million requests in one run");
  return true;
}

/// The bytes of the one request every connection sends, again and again.
std::string build_request(const options& opts) {
  std::string req = opts.method + " " + opts.url.path + " HTTP/1.1\r\n";
  req += "Host: " + opts.url.host_header + "\r\n";
  req += "Connection: keep-alive\r\n";
  if (opts.method == "POST") {
    req += "Content-Type: application/octet-stream\r\n";
    req += "Content-Length: " + std::to_string(opts.body_bytes) + "\r\n";
  }
  req += "\r\n";
  req.append(opts.body_bytes, 'x');
  return req;
}

// -- HTTP/1.1 response parsing -------------------------------------------

/// An incremental parser for one response: feed it bytes as they arrive.
/// Only the status and the framing are kept; body bytes are skipped.
class response_parser {
public:
  enum class result { need_more, done, failed };

  void reset() { *this = response_parser{}; }

  /// Consumes bytes of `buf` from `pos` on, advancing `pos`. Interim (1xx)
  /// responses are skipped.
  result feed(const std::string& buf, size_t& pos) {
    for (;;) {
      switch (phase_) {
      case phase::status_line:
      case phase::headers:
      case phase::chunk_size:
      case phase::chunk_end:
      case phase::trailers: {
        std::string line;
        if (!next_line(buf, pos, line))
          return pending_line_too_long(buf, pos) ? fail("header too long")
                                                 : result::need_more;
        if (!on_line(line))
          return result::failed;
        break;
      }
      case phase::body: {
        auto n = std::min(remaining_, buf.size() - pos);
        pos += n;
        remaining_ -= n;
        if (remaining_ > 0)
          return result::need_more;
        if (chunked_)
          phase_ = phase::chunk_end;
        else
          phase_ = phase::done;
        break;
      }
      case phase::until_close:
        pos = buf.size();
        return result::need_more;
      case phase::done:
        return result::done;
      }
    }
  }

  /// The peer closed the connection: a body delimited by the close is
  /// complete, anything else is cut short.
  result on_eof() {
    if (phase_ == phase::until_close) {
      phase_ = phase::done;
      close_ = true;
      return result::done;
    }
    return fail(started_ ? "connection closed mid-response"
                         : "connection closed before a response");
  }

  int status() const noexcept { return status_; }
  /// The server will close the connection after this response.
  bool closes() const noexcept { return close_; }
  const std::string& error() const noexcept { return error_; }

private:
  enum class phase {
    status_line,
    headers,
    body,
    chunk_size,
    chunk_end,
    trailers,
    until_close,
    done
  };

  bool next_line(const std::string& buf, size_t& pos, std::string& line) {
    if (pos < buf.size())
      started_ = true;
    auto nl = buf.find('\n', pos);
    if (nl == std::string::npos)
      return false;
    line.assign(buf, pos, nl - pos);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    pos = nl + 1;
    header_bytes_ += line.size() + 2;
    return true;
  }

  bool pending_line_too_long(const std::string& buf, size_t pos) const {
    return header_bytes_ + (buf.size() - pos) > max_header_bytes;
  }

  result fail(std::string why) {
    error_ = std::move(why);
    return result::failed;
  }

  bool reject(std::string why) {
    error_ = std::move(why);
    return false;
  }

  bool on_line(const std::string& line) {
    if (header_bytes_ > max_header_bytes)
      return reject("header too long");
    switch (phase_) {
    case phase::status_line:
      return on_status_line(line);
    case phase::headers:
      return line.empty() ? on_headers_end() : on_header(line);
    case phase::chunk_size:
      return on_chunk_size(line);
    case phase::chunk_end:
      if (!line.empty())
        return reject("missing CRLF after chunk");
      phase_ = phase::chunk_size;
      return true;
    case phase::trailers:
      if (line.empty())
        phase_ = phase::done;
      return true;
    default:
      return reject("internal parser state");
    }
  }

  bool on_status_line(const std::string& line) {
    // "HTTP/1.1 200 OK"
    if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0 ||
        line[8] != ' ')
      return reject("bad status line '" + line.substr(0, 80) + "'");
    http10_ = line[7] == '0';
    int status = 0;
    for (size_t i = 9; i < 12; ++i) {
      if (line[i] < '0' || line[i] > '9')
        return reject("bad status code in '" + line.substr(0, 80) + "'");
      status = status * 10 + (line[i] - '0');
    }
    if (line.size() > 12 && line[12] != ' ')
      return reject("bad status line '" + line.substr(0, 80) + "'");
    status_ = status;
    phase_ = phase::headers;
    return true;
  }

  bool on_header(const std::string& line) {
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0)
      return reject("bad header line '" + line.substr(0, 80) + "'");
    auto name = lower(line.substr(0, colon));
    auto value = trim(line.substr(colon + 1));
    if (name == "content-length") {
      char* end = nullptr;
      errno = 0;
      auto n = std::strtoull(value.c_str(), &end, 10);
      bool valid =
          !value.empty() && value[0] != '-' && *end == '\0' && errno == 0;
      if (!valid || (content_length_ >= 0 &&
                     static_cast<unsigned long long>(content_length_) != n))
        return reject("bad Content-Length '" + value + "'");
      content_length_ = static_cast<int64_t>(n);
    } else if (name == "transfer-encoding") {
      chunked_ = has_token(value, "chunked");
    } else if (name == "connection") {
      if (has_token(value, "close"))
        close_ = true;
      if (has_token(value, "keep-alive"))
        keep_alive_ = true;
    }
    return true;
  }

  bool on_headers_end() {
    if (status_ >= 100 && status_ < 200) {
      // An interim response (e.g. 100 Continue): the real one follows.
      reset_keeping_started();
      return true;
    }
    if (http10_ && !keep_alive_)
      close_ = true;
    if (status_ == 204 || status_ == 304) {
      phase_ = phase::done;
    } else if (chunked_) {
      phase_ = phase::chunk_size;
    } else if (content_length_ >= 0) {
      remaining_ = static_cast<size_t>(content_length_);
      phase_ = remaining_ > 0 ? phase::body : phase::done;
    } else {
      phase_ = phase::until_close;
    }
    return true;
  }

  bool on_chunk_size(const std::string& line) {
    auto digits = line.substr(0, line.find(';'));
    digits = trim(digits);
    char* end = nullptr;
    errno = 0;
    auto n = std::strtoull(digits.c_str(), &end, 16);
    if (digits.empty() || *end != '\0' || errno != 0 || digits[0] == '-')
      return reject("bad chunk size '" + line.substr(0, 80) + "'");
    header_bytes_ = 0; // the limit applies per line of chunk framing
    if (n == 0) {
      phase_ = phase::trailers;
    } else {
      remaining_ = static_cast<size_t>(n);
      phase_ = phase::body;
    }
    return true;
  }

  void reset_keeping_started() {
    reset();
    started_ = true;
  }

  phase phase_ = phase::status_line;
  bool started_ = false;
  int status_ = 0;
  bool http10_ = false;
  bool keep_alive_ = false;
  bool close_ = false;
  bool chunked_ = false;
  int64_t content_length_ = -1;
  size_t remaining_ = 0;
  size_t header_bytes_ = 0;
  std::string error_;
};

// -- the schedule --------------------------------------------------------

/// Request i is due at t0 + offset(i); sending stops at t0 + warmup +
/// duration; requests due before t0 + warmup are warm-up requests.
struct schedule {
  double rate = 1;
  int64_t t0 = 0;
  int64_t total = 0;          // requests in the whole run
  int64_t first_measured = 0; // index of the first measured request

  schedule(double r, double warmup_s, double duration_s) : rate(r) {
    first_measured = first_at_or_after(seconds_to_ns(warmup_s));
    total = first_at_or_after(seconds_to_ns(warmup_s + duration_s));
  }

  int64_t offset(int64_t i) const {
    return static_cast<int64_t>(
        std::llround(static_cast<double>(i) * 1e9 / rate));
  }

  int64_t intended(int64_t i) const { return t0 + offset(i); }
  bool measured(int64_t i) const { return i >= first_measured; }
  int64_t measured_count() const { return total - first_measured; }

  /// The first index due at or after `ns` past t0.
  int64_t first_at_or_after(int64_t ns) const {
    auto i =
        static_cast<int64_t>(std::ceil(static_cast<double>(ns) * rate / 1e9));
    while (i > 0 && offset(i - 1) >= ns)
      --i;
    while (offset(i) < ns)
      ++i;
    return i;
  }
};

// -- the run -------------------------------------------------------------

/// What happened to a group of requests (measured or warm-up).
struct tally {
  int64_t sent = 0;
  int64_t ok = 0;
  int64_t non2xx = 0;
  int64_t errors = 0;
  int64_t timeouts = 0;

  int64_t completed() const { return ok + non2xx; }
  int64_t failed() const { return errors + timeouts; }
};

/// One keep-alive connection of the pool.
struct connection {
  enum class state { closed, connecting, busy, idle };

  unique_fd fd;
  state st = state::closed;
  uint32_t events = 0;  // what epoll watches for
  int64_t request = -1; // index of the request in flight, or -1
  size_t written = 0;   // bytes of the request sent so far
  std::string in;       // received, not yet parsed
  response_parser parser;
};

constexpr uint64_t timer_key = ~uint64_t{0};

class load_generator {
public:
  explicit load_generator(const options& opts)
      : opts_(opts), request_(build_request(opts)),
        sched_(opts.rate, opts.warmup, opts.duration),
        conns_(static_cast<size_t>(opts.connections)) {
    epoll_ = unique_fd{epoll_create1(EPOLL_CLOEXEC)};
    if (!epoll_.valid())
      throw fatal_error(errno_text("epoll_create1"));
    timer_ =
        unique_fd{timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)};
    if (!timer_.valid())
      throw fatal_error(errno_text("timerfd_create"));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = timer_key;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, timer_.get(), &ev) != 0)
      throw fatal_error(errno_text("epoll_ctl(timerfd)"));
    samples_.reserve(static_cast<size_t>(
        std::min<int64_t>(sched_.measured_count(), int64_t{1} << 20)));
  }

  /// Opens the pool; throws fatal_error if any connection fails.
  void open_pool();

  /// Sends the whole schedule and waits for the answers (bounded).
  void run();

  const tally& measured() const { return measured_; }
  const tally& warmup() const { return warmup_; }
  const schedule& plan() const { return sched_; }
  std::vector<int64_t>& samples() { return samples_; }

  /// Seconds from the first measured request's intended start to the last
  /// measured answer, at least the planned duration: an overloaded server
  /// drains its backlog after sending stops, so its throughput is the
  /// answers over this span, not over the planned duration.
  double measured_span(double planned) const {
    auto span = static_cast<double>(last_done_ -
                                    sched_.intended(sched_.first_measured)) /
                1e9;
    return std::max(planned, span);
  }

private:
  tally& tally_of(int64_t i) {
    return sched_.measured(i) ? measured_ : warmup_;
  }

  void release_due(int64_t now);
  void dispatch();
  void assign(size_t c, int64_t i);
  void start_connect(size_t c);
  void on_event(size_t c, uint32_t events);
  void on_connected(size_t c);
  void write_some(size_t c);
  void read_some(size_t c);
  void complete(size_t c);
  void fail(size_t c, const std::string& why);
  void close(size_t c);
  void watch(size_t c, uint32_t events);
  void arm_timer(int64_t at);
  void report(size_t c, const std::string& why);
  bool outstanding() const {
    return next_release_ < sched_.total || !waiting_.empty() || in_flight_ > 0;
  }

  const options& opts_;
  const std::string request_;
  schedule sched_;
  std::vector<connection> conns_;
  unique_fd epoll_;
  unique_fd timer_;
  std::deque<size_t> free_;     // connections without a request
  std::deque<int64_t> waiting_; // due requests without a connection
  int64_t next_release_ = 0;    // the next request not yet due
  int64_t in_flight_ = 0;
  int64_t armed_at_ = -1;
  int reported_ = 0;
  tally measured_;
  tally warmup_;
  std::vector<int64_t> samples_; // latencies of measured requests, in µs
  int64_t last_done_ = 0;        // when the last measured answer came
};

void load_generator::watch(size_t c, uint32_t events) {
  auto& conn = conns_[c];
  if (conn.events == events)
    return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = c;
  int op = conn.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (epoll_ctl(epoll_.get(), op, conn.fd.get(), &ev) != 0)
    throw fatal_error(errno_text("epoll_ctl"));
  conn.events = events;
}

void load_generator::start_connect(size_t c) {
  auto& conn = conns_[c];
  conn.fd =
      unique_fd{socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (!conn.fd.valid())
    throw fatal_error(errno_text("socket"));
  conn.events = 0;
  conn.in.clear();
  int one = 1;
  setsockopt(conn.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(opts_.url.port);
  addr.sin_addr = opts_.url.address;
  conn.st = connection::state::connecting;
  if (connect(conn.fd.get(), reinterpret_cast<sockaddr*>(&addr),
              sizeof(addr)) != 0 &&
      errno != EINPROGRESS)
    throw std::runtime_error(errno_text("connect"));
  // Completion (or failure) shows as writability either way.
  watch(c, EPOLLOUT);
}

void load_generator::open_pool() {
  for (size_t c = 0; c < conns_.size(); ++c) {
    try {
      start_connect(c);
    } catch (const fatal_error&) {
      throw;
    } catch (const std::runtime_error& e) {
      throw fatal_error(e.what());
    }
  }
  auto deadline = now_ns() + seconds_to_ns(opts_.timeout);
  size_t pending = conns_.size();
  std::vector<epoll_event> events(64);
  while (pending > 0) {
    auto left_ms = (deadline - now_ns()) / 1'000'000;
    if (left_ms <= 0)
      throw fatal_error("timed out opening the connections");
    int n =
        epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                   static_cast<int>(left_ms));
    if (n < 0 && errno != EINTR)
      throw fatal_error(errno_text("epoll_wait"));
    for (int k = 0; k < n; ++k) {
      auto c = static_cast<size_t>(events[static_cast<size_t>(k)].data.u64);
      if (c == timer_key || conns_[c].st != connection::state::connecting)
        continue;
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(conns_[c].fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0)
        throw fatal_error(errno_text("connect", err));
      conns_[c].st = connection::state::idle;
      watch(c, EPOLLIN);
      free_.push_back(c);
      --pending;
    }
  }
}

void load_generator::arm_timer(int64_t at) {
  if (at == armed_at_)
    return;
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(at / ns_per_s);
  spec.it_value.tv_nsec = static_cast<long>(at % ns_per_s);
  if (timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0)
    throw fatal_error(errno_text("timerfd_settime"));
  armed_at_ = at;
}

void load_generator::report(size_t c, const std::string& why) {
  if (reported_ < max_reported_errors)
    std::fprintf(stderr, "loadgen: connection %zu: %s\n", c, why.c_str());
  else if (reported_ == max_reported_errors)
    std::fprintf(stderr, "loadgen: (further errors not shown)\n");
  ++reported_;
}

void load_generator::release_due(int64_t now) {
  while (next_release_ < sched_.total && sched_.intended(next_release_) <= now)
    waiting_.push_back(next_release_++);
}

void load_generator::dispatch() {
  while (!waiting_.empty() && !free_.empty()) {
    auto c = free_.front();
    free_.pop_front();
    auto i = waiting_.front();
    waiting_.pop_front();
    assign(c, i);
  }
}

void load_generator::assign(size_t c, int64_t i) {
  auto& conn = conns_[c];
  conn.request = i;
  conn.written = 0;
  conn.parser.reset();
  ++in_flight_;
  if (conn.st == connection::state::closed) {
    try {
      start_connect(c); // writes once connected
    } catch (const fatal_error&) {
      throw;
    } catch (const std::runtime_error& e) {
      fail(c, e.what());
    }
    return;
  }
  conn.st = connection::state::busy;
  ++tally_of(i).sent;
  write_some(c);
}

void load_generator::on_connected(size_t c) {
  auto& conn = conns_[c];
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(conn.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0)
    return fail(c, errno_text("reconnect", err));
  conn.st = connection::state::busy;
  ++tally_of(conn.request).sent;
  write_some(c);
}

void load_generator::write_some(size_t c) {
  auto& conn = conns_[c];
  while (conn.written < request_.size()) {
    auto n = send(conn.fd.get(), request_.data() + conn.written,
                  request_.size() - conn.written, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        watch(c, EPOLLIN | EPOLLOUT);
        return;
      }
      if (errno == EINTR)
        continue;
      return fail(c, errno_text("write"));
    }
    conn.written += static_cast<size_t>(n);
  }
  watch(c, EPOLLIN);
}

void load_generator::read_some(size_t c) {
  auto& conn = conns_[c];
  char buf[64 * 1024];
  for (;;) {
    auto n = recv(conn.fd.get(), buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      if (conn.request < 0)
        return close(c); // an idle connection went away
      return fail(c, errno_text("read"));
    }
    if (n == 0) {
      if (conn.request < 0)
        return close(c); // the server closed an idle connection
      if (conn.parser.on_eof() == response_parser::result::done)
        return complete(c);
      return fail(c, conn.parser.error());
    }
    if (conn.request < 0) {
      report(c, "unsolicited data from the server");
      return close(c);
    }
    conn.in.append(buf, static_cast<size_t>(n));
    size_t pos = 0;
    auto res = conn.parser.feed(conn.in, pos);
    conn.in.erase(0, pos);
    if (res == response_parser::result::failed)
      return fail(c, "bad response: " + conn.parser.error());
    if (res == response_parser::result::done)
      return complete(c);
  }
}

void load_generator::complete(size_t c) {
  auto& conn = conns_[c];
  auto now = now_ns();
  auto i = conn.request;
  auto& t = tally_of(i);
  if (conn.parser.status() >= 200 && conn.parser.status() < 300)
    ++t.ok;
  else
    ++t.non2xx;
  if (sched_.measured(i)) {
    samples_.push_back((now - sched_.intended(i)) / 1000);
    last_done_ = now;
  }
  conn.request = -1;
  --in_flight_;
  bool leftover = !conn.in.empty();
  if (leftover)
    report(c, "unsolicited data after a response");
  if (conn.parser.closes() || leftover) {
    close(c);
  } else {
    conn.st = connection::state::idle;
    free_.push_back(c);
  }
}

void load_generator::fail(size_t c, const std::string& why) {
  auto& conn = conns_[c];
  report(c, why);
  if (conn.request >= 0) {
    ++tally_of(conn.request).errors;
    conn.request = -1;
    --in_flight_;
  }
  close(c);
}

void load_generator::close(size_t c) {
  auto& conn = conns_[c];
  if (conn.st == connection::state::closed)
    return;
  bool was_free = conn.st == connection::state::idle;
  conn.fd.reset(); // also removes it from epoll
  conn.events = 0;
  conn.in.clear();
  conn.st = connection::state::closed;
  if (!was_free)
    free_.push_back(c); // the next request reopens it
}

void load_generator::on_event(size_t c, uint32_t events) {
  auto& conn = conns_[c];
  if (!conn.fd.valid())
    return; // closed by an earlier event in the same batch
  if (conn.st == connection::state::connecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
      on_connected(c);
    return;
  }
  if ((events & EPOLLOUT) && conn.request >= 0 &&
      conn.written < request_.size()) {
    write_some(c);
    if (!conn.fd.valid())
      return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
    read_some(c);
}

void load_generator::run() {
  sched_.t0 = now_ns();
  auto stop = sched_.t0 + seconds_to_ns(opts_.warmup + opts_.duration);
  auto deadline = stop + seconds_to_ns(opts_.timeout);
  std::vector<epoll_event> events(256);
  for (;;) {
    auto now = now_ns();
    release_due(now);
    dispatch();
    if (!outstanding() || now >= deadline)
      break;
    arm_timer(next_release_ < sched_.total ? sched_.intended(next_release_)
                                           : deadline);
    int n = epoll_wait(epoll_.get(), events.data(),
                       static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw fatal_error(errno_text("epoll_wait"));
    }
    for (int k = 0; k < n; ++k) {
      auto& ev = events[static_cast<size_t>(k)];
      if (ev.data.u64 == timer_key) {
        uint64_t expirations = 0;
        auto r = read(timer_.get(), &expirations, sizeof(expirations));
        (void)r; // EAGAIN after a re-arm is fine
        armed_at_ = -1;
      } else {
        on_event(static_cast<size_t>(ev.data.u64), ev.events);
      }
    }
  }
  // Whatever is still waiting or in flight has timed out.
  for (auto i : waiting_)
    ++tally_of(i).timeouts;
  waiting_.clear();
  for (size_t c = 0; c < conns_.size(); ++c) {
    if (conns_[c].request >= 0) {
      ++tally_of(conns_[c].request).timeouts;
      conns_[c].request = -1;
    }
    conns_[c].fd.reset();
  }
  in_flight_ = 0;
}

// -- results -------------------------------------------------------------

struct latency_stats {
  double mean = 0;
  int64_t p50 = 0;
  int64_t p90 = 0;
  int64_t p99 = 0;
  int64_t p999 = 0;
  int64_t max = 0;
};

/// `per_mille` = 500 for p50: the element at index ceil(q * n) - 1.
int64_t percentile(const std::vector<int64_t>& sorted, int64_t per_mille) {
  if (sorted.empty())
    return 0;
  auto n = static_cast<int64_t>(sorted.size());
  auto index = (per_mille * n + 999) / 1000 - 1;
  index = std::clamp<int64_t>(index, 0, n - 1);
  return sorted[static_cast<size_t>(index)];
}

latency_stats compute_stats(std::vector<int64_t>& samples) {
  latency_stats s;
  if (samples.empty())
    return s;
  std::sort(samples.begin(), samples.end());
  double sum = 0;
  for (auto x : samples)
    sum += static_cast<double>(x);
  s.mean = sum / static_cast<double>(samples.size());
  s.p50 = percentile(samples, 500);
  s.p90 = percentile(samples, 900);
  s.p99 = percentile(samples, 990);
  s.p999 = percentile(samples, 999);
  s.max = samples.back();
  return s;
}

struct summary {
  double offered_rps = 0;
  double achieved_rps = 0;
  tally measured;
  tally warmup;
  latency_stats latency;
};

void print_json(const options& opts, const summary& s) {
  const auto& m = s.measured;
  std::printf("{\"offered_rps\":%.3f,\"achieved_rps\":%.3f,"
              "\"sent\":%" PRId64 ",\"completed\":%" PRId64 ",\"ok\":%" PRId64
              ",\"non2xx\":%" PRId64 ",\"errors\":%" PRId64
              ",\"timeouts\":%" PRId64 ",\"mean_us\":%.1f,\"p50_us\":%" PRId64
              ",\"p90_us\":%" PRId64 ",\"p99_us\":%" PRId64
              ",\"p999_us\":%" PRId64 ",\"max_us\":%" PRId64
              ",\"connections\":%d"
              ",\"duration_s\":%.3f}\n",
              s.offered_rps, s.achieved_rps, m.sent, m.completed(), m.ok,
              m.non2xx, m.errors, m.timeouts, s.latency.mean, s.latency.p50,
              s.latency.p90, s.latency.p99, s.latency.p999, s.latency.max,
              opts.connections, opts.duration);
}

void print_human(const options& opts, const summary& s) {
  const auto& m = s.measured;
  const auto& l = s.latency;
  std::printf("loadgen: %s %s, %.1f req/s open loop for %.3g s "
              "(+%.3g s warm-up), %d connections\n",
              opts.method.c_str(), opts.url.url.c_str(), opts.rate,
              opts.duration, opts.warmup, opts.connections);
  std::printf("  requests:   %" PRId64 " sent, %" PRId64 " completed (%" PRId64
              " 2xx, %" PRId64 " non-2xx), %" PRId64 " errors, %" PRId64
              " timeouts\n",
              m.sent, m.completed(), m.ok, m.non2xx, m.errors, m.timeouts);
  std::printf("  throughput: %.1f req/s achieved, %.1f req/s offered\n",
              s.achieved_rps, s.offered_rps);
  std::printf("  latency from intended start (us): mean %.1f  p50 %" PRId64
              "  p90 %" PRId64 "  p99 %" PRId64 "  p99.9 %" PRId64
              "  max %" PRId64 "\n",
              l.mean, l.p50, l.p90, l.p99, l.p999, l.max);
  if (opts.warmup > 0)
    std::printf("  warm-up:    %" PRId64 " requests sent, %" PRId64
                " failed (not counted above)\n",
                s.warmup.sent, s.warmup.failed());
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  try {
    if (!parse_options(argc, argv, opts)) {
      std::fputs(usage_text, stdout);
      return 0;
    }
  } catch (const usage_error& e) {
    std::fprintf(stderr, "loadgen: %s\n%s", e.what(), usage_text);
    return 2;
  }
  try {
    load_generator gen{opts};
    try {
      gen.open_pool();
    } catch (const fatal_error& e) {
      std::fprintf(stderr, "loadgen: cannot open %d connection(s) to %s: %s\n",
                   opts.connections, opts.url.url.c_str(), e.what());
      return 1;
    }
    gen.run();
    summary s;
    s.measured = gen.measured();
    s.warmup = gen.warmup();
    s.offered_rps =
        static_cast<double>(gen.plan().measured_count()) / opts.duration;
    s.achieved_rps = static_cast<double>(s.measured.completed()) /
                     gen.measured_span(opts.duration);
    s.latency = compute_stats(gen.samples());
    if (opts.json)
      print_json(opts, s);
    else
      print_human(opts, s);
    std::fflush(stdout);
    return s.measured.failed() == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loadgen: %s\n", e.what());
    return 1;
  }
}
