#include "ops/fatal_signal.hpp"

#include <atomic>
#include <csignal>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <typeinfo>

#include <execinfo.h>
#include <fcntl.h>
#include <unistd.h>

namespace actorserve::detail {

namespace {

/// The log file's descriptor for the handler, or -1.
std::atomic<int> log_fd{-1};

constexpr int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

const char* name_of(int sig) {
  switch (sig) {
  case SIGSEGV:
    return "SIGSEGV";
  case SIGBUS:
    return "SIGBUS";
  case SIGFPE:
    return "SIGFPE";
  case SIGILL:
    return "SIGILL";
  case SIGABRT:
    return "SIGABRT";
  default:
    return "a fatal signal";
  }
}

void write_all(int fd, const char* text, size_t n) {
  while (n > 0) {
    auto w = ::write(fd, text, n);
    if (w <= 0)
      return;
    text += w;
    n -= static_cast<size_t>(w);
  }
}

void report(int fd, int sig, void* const* frames, int depth) {
  if (fd < 0)
    return;
  const char* head = "actorserve: fatal signal ";
  write_all(fd, head, std::strlen(head));
  auto name = name_of(sig);
  write_all(fd, name, std::strlen(name));
  const char* tail = "; the stack of the thread that took it:\n";
  write_all(fd, tail, std::strlen(tail));
  ::backtrace_symbols_fd(frames, depth, fd);
}

void on_fatal_signal(int sig) {
  void* frames[64];
  auto depth = ::backtrace(frames, 64);
  report(STDERR_FILENO, sig, frames, depth);
  report(log_fd.load(), sig, frames, depth);
  // SA_RESETHAND restored the default: the signal now ends the process as
  // it would have (SIGABRT and signals sent by kill are raised again).
  ::raise(sig);
}

/// std::terminate names what ended the process before it aborts (the
/// SIGABRT handler then adds the stack): an exception that escaped a
/// thread or a destructor, with its type and text.
[[noreturn]] void on_terminate() {
  std::string line = "actorserve: std::terminate";
  if (auto eptr = std::current_exception()) {
    try {
      std::rethrow_exception(eptr);
    } catch (const std::exception& e) {
      line += std::string{" after an uncaught "} + typeid(e).name() + ": " +
              e.what();
    } catch (...) {
      line += " after an uncaught exception of an unknown type";
    }
  } else {
    line += " without an exception (a noexcept function, or a joinable "
            "std::thread destroyed)";
  }
  line += "\n";
  write_all(STDERR_FILENO, line.data(), line.size());
  if (auto fd = log_fd.load(); fd >= 0)
    write_all(fd, line.data(), line.size());
  std::abort();
}

/// Room for the handler when the fault is a stack overflow.
alignas(16) char alt_stack[64 * 1024];

void install_once() {
  // Loads what backtrace needs now, not inside the handler.
  void* warm[1];
  ::backtrace(warm, 1);
  stack_t ss{};
  ss.ss_sp = alt_stack;
  ss.ss_size = sizeof(alt_stack);
  ::sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND | SA_ONSTACK;
  for (auto sig : fatal_signals)
    ::sigaction(sig, &sa, nullptr);
  std::set_terminate(on_terminate);
}

} // namespace

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#  define ACTORSERVE_SANITIZED 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#    define ACTORSERVE_SANITIZED 1
#  endif
#endif

void install_fatal_signal_log(const std::string& log_file) {
#ifdef ACTORSERVE_SANITIZED
  (void) log_file;
  return;
#endif
  static std::once_flag once;
  std::call_once(once, install_once);
  int fd = -1;
  if (!log_file.empty())
    fd = ::open(log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                0644);
  auto old = log_fd.exchange(fd);
  if (old >= 0)
    ::close(old);
}

} // namespace actorserve::detail
