/// @file
/// The server's logs (private to the library: spdlog stays out of public
/// headers).
///
/// One process-wide logger, configured by `serve` from `logging_options`:
/// TEXT or JSON lines, a level, stderr or a file. Lines are structured: a
/// message and fields, rendered as `message k=v ...` in TEXT and as one
/// JSON object per line (Ray Serve's `asctime`, `levelname`, `message`,
/// then the fields) in JSON.
///
/// The access log (one line per HTTP request from the ingress, one per call
/// from the replica that answered it) is off unless asked for: callers test
/// `access_log_on()`, one relaxed atomic load, before they build anything.
/// When it is on, each line takes the sink's lock.
///
/// Thread safety: every function may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace actorserve {
struct logging_options;
} // namespace actorserve

namespace actorserve::detail {

enum class log_level : uint8_t { debug, info, warning, error };

using log_fields = std::vector<std::pair<const char*, nlohmann::json>>;

/// Applies `opts` (validated) to the process's logger.
void configure_logging(const logging_options& opts);

/// Whether a line of `level` would be written.
bool log_enabled(log_level level) noexcept;

/// Writes one line if `level` is on.
void log(log_level level, std::string_view message,
         const log_fields& fields = {});

inline void log_info(std::string_view message, const log_fields& fields = {}) {
  log(log_level::info, message, fields);
}

inline void log_warning(std::string_view message,
                        const log_fields& fields = {}) {
  log(log_level::warning, message, fields);
}

/// Builds a line with `<<` and writes it, at `level`, when it ends:
/// `log_line{log_level::info} << "node " << id << " joined";`
class log_line {
public:
  explicit log_line(log_level level) : level_(level) {}
  ~log_line() { log(level_, out_.str()); }
  log_line(const log_line&) = delete;
  log_line& operator=(const log_line&) = delete;

  template <class T>
  log_line& operator<<(const T& x) {
    out_ << x;
    return *this;
  }

private:
  log_level level_;
  std::ostringstream out_;
};

/// At most `per_second` lines a second from one place; the lines it holds
/// back are counted and reported by the next one it lets through. Lock-free.
class log_limiter {
public:
  explicit log_limiter(uint32_t per_second = 5) noexcept
      : per_second_(per_second) {}

  /// Whether a line may be written now; if so, `suppressed` is the number
  /// held back since the last one.
  bool admit(uint64_t& suppressed) noexcept;

private:
  uint32_t per_second_;
  std::atomic<int64_t> window_{0};
  std::atomic<uint32_t> used_{0};
  std::atomic<uint64_t> dropped_{0};
};

/// A loop of the framework's caught `what` at its boundary (`where`: the
/// thread or loop) and goes on serving: one ERROR line, rate-limited by
/// `limiter`.
void log_caught(log_limiter& limiter, std::string_view where,
                std::string_view what) noexcept;

/// Whether access lines are written (`enable_access_log`, and INFO on).
bool access_log_on() noexcept;

/// The ingress answered an HTTP request.
void log_access(std::string_view request_id, std::string_view method,
                std::string_view route, std::string_view app, uint16_t status,
                double latency_ms);

/// A replica answered a call.
void log_replica_call(std::string_view app, std::string_view deployment,
                      uint64_t replica, std::string_view request_id, bool ok,
                      double latency_ms);

} // namespace actorserve::detail
