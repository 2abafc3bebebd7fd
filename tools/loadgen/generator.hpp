// The open-loop schedule and the epoll loop that keeps it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <queue>
#include <tuple>
#include <string>
#include <utility>
#include <vector>

#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "common.hpp"
#include "options.hpp"
#include "outcomes.hpp"
#include "response_parser.hpp"

namespace loadgen {

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
  cut_plan cut;         // where the request in flight is cut, if it is
  std::string in;       // received, not yet parsed
  response_parser parser;
};

inline constexpr uint64_t timer_key = ~uint64_t{0};

class load_generator {
public:
  explicit load_generator(const options& opts)
      : opts_(opts), requests_(build_requests(opts)),
        sched_(opts.rate, opts.warmup, opts.duration),
        conns_(static_cast<size_t>(opts.connections)),
        book_(sched_.total, !opts.log_path.empty()) {
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
  const outcome_book& book() const { return book_; }
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
  void fail(size_t c, int code, const std::string& why);
  void begin(size_t c);
  void cut(size_t c);
  void fire_cuts(int64_t now);
  int64_t next_wakeup(int64_t deadline) const;
  const std::string& request_of(int64_t i) const {
    return requests_[static_cast<size_t>(i % opts_.vary)];
  }
  void end(int64_t i, int code, int64_t now) {
    book_.record(i, code, sched_.intended(i), now);
  }
  void close(size_t c);
  void watch(size_t c, uint32_t events);
  void arm_timer(int64_t at);
  void report(size_t c, const std::string& why);
  bool outstanding() const {
    return next_release_ < sched_.total || !waiting_.empty() || in_flight_ > 0;
  }

  const options& opts_;
  const std::vector<std::string> requests_;
  schedule sched_;
  std::vector<connection> conns_;
  outcome_book book_;
  // Timed cuts still to come: (when, connection, request), earliest first.
  using pending_cut = std::tuple<int64_t, size_t, int64_t>;
  std::priority_queue<pending_cut, std::vector<pending_cut>,
                      std::greater<pending_cut>>
      cuts_;
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

} // namespace loadgen
