/// @file
/// A child process whose output a test reads (real processes: the demo
/// binary as head and worker nodes, its signals and flags).
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <poll.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace test {

/// A child process whose stdout and stderr we read.
struct child {
  pid_t pid = -1;
  FILE* out = nullptr;

  /// Runs `args` with `env` ("NAME=value") added to the environment.
  explicit child(std::vector<std::string> args,
                 std::vector<std::string> env = {}) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::dup2(fds[1], STDERR_FILENO);
      ::close(fds[0]);
      for (auto& e : env)
        ::putenv(e.data());
      std::vector<char*> argv;
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out = ::fdopen(fds[0], "r");
  }

  ~child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (out != nullptr)
      ::fclose(out);
  }

  /// Reads output lines until one contains `what` (or the child closes it).
  std::string read_until(const std::string& what) {
    std::string all;
    char line[4096];
    while (::fgets(line, sizeof(line), out) != nullptr) {
      all += line;
      if (all.find(what) != std::string::npos)
        break;
    }
    return all;
  }

  /// As `read_until`, but gives up after `limit`: what was read by then.
  /// Reads the pipe itself (poll, then read), so use it alone on a child,
  /// not mixed with `read_until`.
  std::string read_until_for(const std::string& what,
                             std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    auto fd = ::fileno(out);
    while (seen_.find(what) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
        break;
      char buf[4096];
      auto n = ::read(fd, buf, sizeof(buf));
      if (n <= 0)
        break;
      seen_.append(buf, static_cast<size_t>(n));
    }
    auto at = seen_.find(what);
    if (at == std::string::npos)
      return seen_;
    auto line_end = seen_.find('\n', at);
    auto cut = line_end == std::string::npos ? seen_.size() : line_end + 1;
    auto result = seen_.substr(0, cut);
    seen_.erase(0, cut);
    return result;
  }

  int wait_exit() {
    auto status = wait_status();
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  /// Waits for the child to end; its raw `waitpid` status.
  int wait_status() {
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
    return status;
  }

private:
  /// Output `read_until_for` read and has not returned yet.
  std::string seen_;
};

} // namespace test
