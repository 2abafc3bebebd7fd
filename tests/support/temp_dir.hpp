/// @file
/// A fresh directory under /tmp for one test, removed with what it holds
/// when the test ends.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include <catch2/catch.hpp>
#include <stdlib.h>

namespace test {

struct temp_dir {
  std::string path;
  temp_dir() {
    char name[] = "/tmp/actorserve-test-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path = name;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  /// Writes `text` to the file `name` here; its path.
  std::string file(const std::string& name, const std::string& text) const {
    auto p = path + "/" + name;
    std::ofstream{p} << text;
    return p;
  }
};

} // namespace test
