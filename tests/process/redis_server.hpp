/// @file
/// A real redis-server for tests (tools/setup installs it): on a loopback
/// port, without persistence unless asked, killed when the test ends.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "child.hpp"

namespace test {

/// A redis-server without persistence on `port`, ready when constructed
/// (it said so within 10 s), killed when destroyed.
struct redis_server {
  std::unique_ptr<test::child> proc;
  explicit redis_server(uint16_t port, const std::string& password = "") {
    std::vector<std::string> args{"/usr/bin/redis-server", "--port",
                                  std::to_string(port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no",
                                  "--dir", "/tmp"};
    if (!password.empty()) {
      args.push_back("--requirepass");
      args.push_back(password);
    }
    proc = std::make_unique<test::child>(args);
    auto out = proc->read_until_for("Ready to accept connections",
                                    std::chrono::seconds(10));
    INFO(out);
    REQUIRE(out.find("Ready to accept connections") != std::string::npos);
  }
};

} // namespace test
