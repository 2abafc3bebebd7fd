#include "ops/logging.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <mutex>

#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "actorserve/serve.hpp"
#include "base/text.hpp"

namespace actorserve::detail {

namespace {

struct logger_state {
  std::mutex mtx; // guards `logger` replacement, not its use
  std::shared_ptr<spdlog::logger> logger;
  std::atomic<int> level{static_cast<int>(log_level::info)};
  std::atomic<bool> json{false};
  std::atomic<bool> access{false};
};

logger_state& state() {
  static logger_state st;
  return st;
}

std::shared_ptr<spdlog::logger> current() {
  auto& st = state();
  std::lock_guard<std::mutex> guard{st.mtx};
  if (!st.logger) {
    st.logger = std::make_shared<spdlog::logger>(
        "actorserve", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    st.logger->set_pattern("%Y-%m-%d %H:%M:%S,%e %l actorserve: %v");
    st.logger->set_level(spdlog::level::trace); // we filter ourselves
    st.logger->flush_on(spdlog::level::trace);
  }
  return st.logger;
}

spdlog::level::level_enum spd(log_level l) {
  switch (l) {
  case log_level::debug:
    return spdlog::level::debug;
  case log_level::info:
    return spdlog::level::info;
  case log_level::warning:
    return spdlog::level::warn;
  default:
    return spdlog::level::err;
  }
}

const char* level_name(log_level l) {
  switch (l) {
  case log_level::debug:
    return "DEBUG";
  case log_level::info:
    return "INFO";
  case log_level::warning:
    return "WARNING";
  default:
    return "ERROR";
  }
}

/// TEXT: `message k=v ...` (strings quoted when they hold spaces).
std::string render_text(std::string_view message, const log_fields& fields) {
  std::string out{message};
  for (auto& [key, value] : fields) {
    out += ' ';
    out += key;
    out += '=';
    if (value.is_string()) {
      auto& s = value.get_ref<const std::string&>();
      // Quoted (JSON-escaped) unless it is plain printable ASCII, so that a
      // value from outside cannot break a line or forge another.
      bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return c > 0x20 && c < 0x7F && c != '"';
      });
      if (plain)
        out += s;
      else
        out += dump_json(s);
    } else {
      out += dump_json(value);
    }
  }
  return out;
}

/// JSON: the body of the object after `asctime` (the pattern writes it).
std::string render_json(log_level level, std::string_view message,
                        const log_fields& fields) {
  std::string out =
      "\"levelname\":" + dump_json(level_name(level)) +
      ",\"message\":" + dump_json(std::string{message});
  for (auto& [key, value] : fields)
    out += "," + dump_json(key) + ":" + dump_json(value);
  return out;
}

} // namespace

void configure_logging(const logging_options& opts) {
  auto& st = state();
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (opts.file.empty())
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  else
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(opts.file);
  auto logger = std::make_shared<spdlog::logger>("actorserve", sink);
  bool json = opts.encoding == "JSON";
  logger->set_pattern(json ? "{\"asctime\":\"%Y-%m-%d %H:%M:%S,%e\",%v}"
                           : "%Y-%m-%d %H:%M:%S,%e %l actorserve: %v");
  logger->set_level(spdlog::level::trace);
  logger->flush_on(spdlog::level::trace);
  log_level level = log_level::info;
  if (opts.level == "DEBUG")
    level = log_level::debug;
  else if (opts.level == "WARNING")
    level = log_level::warning;
  else if (opts.level == "ERROR")
    level = log_level::error;
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    st.logger = std::move(logger);
  }
  st.level.store(static_cast<int>(level), std::memory_order_relaxed);
  st.json.store(json, std::memory_order_relaxed);
  st.access.store(opts.enable_access_log && level <= log_level::info,
                  std::memory_order_relaxed);
}

bool log_enabled(log_level level) noexcept {
  return static_cast<int>(level) >=
         state().level.load(std::memory_order_relaxed);
}

void log(log_level level, std::string_view message, const log_fields& fields) {
  if (!log_enabled(level))
    return;
  try {
    auto json = state().json.load(std::memory_order_relaxed);
    auto line = json ? render_json(level, message, fields)
                     : render_text(message, fields);
    current()->log(spd(level), "{}", line);
  } catch (...) {
    // A log line never takes the server down (a full disk, a bad file).
  }
}

bool log_limiter::admit(uint64_t& suppressed) noexcept {
  using namespace std::chrono;
  auto now = duration_cast<seconds>(steady_clock::now().time_since_epoch())
                 .count();
  auto window = window_.load(std::memory_order_relaxed);
  if (now != window &&
      window_.compare_exchange_strong(window, now, std::memory_order_relaxed))
    used_.store(0, std::memory_order_relaxed);
  if (used_.fetch_add(1, std::memory_order_relaxed) >= per_second_) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  suppressed = dropped_.exchange(0, std::memory_order_relaxed);
  return true;
}

void log_caught(log_limiter& limiter, std::string_view where,
                std::string_view what) noexcept {
  uint64_t suppressed = 0;
  if (!limiter.admit(suppressed))
    return;
  try {
    log(log_level::error, "caught an exception and kept serving",
        {{"where", std::string{where}},
         {"what", clip_text(what, 512)},
         {"suppressed", suppressed}});
  } catch (...) {
    // Out of memory: the line is lost, the loop goes on.
  }
}

bool access_log_on() noexcept {
  return state().access.load(std::memory_order_relaxed);
}

void log_access(std::string_view request_id, std::string_view method,
                std::string_view route, std::string_view app, uint16_t status,
                double latency_ms) {
  log(log_level::info, "access",
      {{"request_id", std::string{request_id}},
       {"method", std::string{method}},
       {"route", std::string{route}},
       {"application", std::string{app}},
       {"status_code", status},
       {"latency_ms", std::round(latency_ms * 1000) / 1000}});
}

void log_replica_call(std::string_view app, std::string_view deployment,
                      uint64_t replica, std::string_view request_id, bool ok,
                      double latency_ms) {
  log(log_level::info, "call",
      {{"application", std::string{app}},
       {"deployment", std::string{deployment}},
       {"replica", replica},
       {"request_id", std::string{request_id}},
       {"result", ok ? "OK" : "ERROR"},
       {"latency_ms", std::round(latency_ms * 1000) / 1000}});
}

} // namespace actorserve::detail
