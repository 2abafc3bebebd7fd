/// @file
/// A fatal signal leaves a line in the log (private to the library).
///
/// `install_fatal_signal_log` sets handlers for SIGSEGV, SIGBUS, SIGFPE,
/// SIGILL and SIGABRT that write one line naming the signal, then the
/// stack of the thread that took it (glibc's `backtrace`, one frame a
/// line), to stderr and to the log file when there is one. Then the signal
/// takes its default course with the handler reset: the process dies of it
/// (a core file where the system keeps them, the same exit status). The
/// handler only calls async-signal-safe functions (`write`,
/// `backtrace_symbols_fd`; `backtrace` is warmed up at install so that it
/// does not load libgcc inside the handler). In the thread that installed
/// it (`main`, which built `serve`) it runs on its own stack, so a stack
/// overflow there is reported too.
///
/// `std::terminate` first writes a line naming the exception that escaped
/// (its type and text), or saying there was none.
///
/// Builds with a sanitizer keep the sanitizer's own handlers and report.
///
/// Thread safety: call from any thread; installs once per process.
#pragma once

#include <string>

namespace actorserve::detail {

/// Installs the handlers (once); `log_file` (may be empty) also gets the
/// report. A later call only changes the file.
void install_fatal_signal_log(const std::string& log_file);

} // namespace actorserve::detail
