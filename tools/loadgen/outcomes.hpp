// How each request ended (an HTTP status, a transport error, a cut of our
// own, a timeout), counted and optionally logged one line per request; and
// where a request is cut (`--cut`), decided by a pure function of the seed
// and the request's index.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace loadgen {

// -- outcomes --------------------------------------------------------------

/// How one request ended: an HTTP status (100..599), or one of these.
enum outcome : int {
  pending = 0,         // not ended (yet)
  cut_by_us = -1,      // we closed the connection on purpose (--cut)
  connect_failed = -2, // the connection could not be (re)opened
  write_failed = -3,   // writing the request failed
  reset = -4,          // reading failed (reset by the peer)
  closed = -5,         // the peer closed before the whole response came
  bad_response = -6,   // the response did not parse
  timed_out = -7,      // no answer by the end of the run (lost)
};

inline std::string outcome_name(int code) {
  switch (code) {
  case cut_by_us:
    return "cut";
  case connect_failed:
    return "connect";
  case write_failed:
    return "write";
  case reset:
    return "reset";
  case closed:
    return "closed";
  case bad_response:
    return "bad_response";
  case timed_out:
    return "timeout";
  case pending:
    return "pending";
  default:
    return std::to_string(code);
  }
}

/// Every request's end: counts by outcome, the worst wait for any end other
/// than a cut, and (with `keep`) each request's end for the log.
class outcome_book {
public:
  outcome_book(int64_t total, bool keep) {
    if (keep)
      records_.resize(static_cast<size_t>(total));
  }

  /// Request `i`, due at `intended`, ended with `code` at `end`.
  void record(int64_t i, int code, int64_t intended, int64_t end) {
    ++counts_[code];
    if (code != cut_by_us && end - intended > worst_ns_)
      worst_ns_ = end - intended;
    if (records_.empty())
      return;
    auto& r = records_[static_cast<size_t>(i)];
    if (r.code != pending)
      ++ended_twice_; // a bug of ours: each request ends once
    r = {end, code};
  }

  /// Bytes that came on a connection with no request waiting for them: a
  /// second answer to one request.
  void unsolicited() { ++unsolicited_; }

  const std::map<int, int64_t>& counts() const { return counts_; }
  int64_t count(int code) const {
    auto it = counts_.find(code);
    return it == counts_.end() ? 0 : it->second;
  }
  int64_t ended() const {
    int64_t n = 0;
    for (auto& [code, k] : counts_)
      n += k;
    return n;
  }
  int64_t unsolicited_count() const { return unsolicited_; }
  int64_t ended_twice() const { return ended_twice_; }
  int64_t worst_us() const { return worst_ns_ / 1000; }

  /// One line per request: `index intended_ns end_ns outcome` (times on
  /// CLOCK_MONOTONIC). False if the file cannot be written.
  template <class Intended>
  bool write_log(const std::string& path, Intended intended) const {
    FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr)
      return false;
    for (size_t i = 0; i < records_.size(); ++i) {
      auto& r = records_[i];
      std::fprintf(f, "%zu %lld %lld %s\n", i,
                   static_cast<long long>(intended(static_cast<int64_t>(i))),
                   static_cast<long long>(r.end), outcome_name(r.code).c_str());
    }
    return std::fclose(f) == 0;
  }

private:
  struct record_t {
    int64_t end = 0;
    int code = pending;
  };
  std::vector<record_t> records_;
  std::map<int, int64_t> counts_;
  int64_t unsolicited_ = 0;
  int64_t ended_twice_ = 0;
  int64_t worst_ns_ = 0;
};

// -- cuts ------------------------------------------------------------------

/// Where request i is cut: after `bytes` bytes of the request are written,
/// or `after_ns` after its first byte was written; `rst` closes with a reset
/// instead of a FIN. `cut` false: it runs to its answer.
struct cut_plan {
  bool cut = false;
  bool by_bytes = false;
  size_t bytes = 0;
  int64_t after_ns = 0;
  bool rst = false;
};

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// A quarter of the cut requests stop part way through the request's bytes,
/// the rest at a time uniform in [0, max_ns] after it started: waiting for
/// the answer or part way through it (a stream).
inline cut_plan plan_cut(uint64_t seed, int64_t i, double fraction,
                         int64_t max_ns, size_t request_bytes) {
  cut_plan p;
  if (fraction <= 0)
    return p;
  auto h = splitmix64(seed * 0x100000001b3ULL + static_cast<uint64_t>(i));
  auto unit = [](uint64_t x) {
    return static_cast<double>(x >> 11) / static_cast<double>(1ULL << 53);
  };
  if (unit(h) >= fraction)
    return p;
  auto h2 = splitmix64(h);
  p.cut = true;
  p.rst = (h2 & 1) != 0;
  p.by_bytes = request_bytes > 1 && (h2 & 6) == 0;
  if (p.by_bytes)
    p.bytes = 1 + static_cast<size_t>((h2 >> 8) % (request_bytes - 1));
  else
    p.after_ns = static_cast<int64_t>(unit(splitmix64(h2)) *
                                      static_cast<double>(max_ns));
  return p;
}

} // namespace loadgen
