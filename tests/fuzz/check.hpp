/// @file
/// What the harnesses share: a property check that stops the fuzzer with a
/// message (libFuzzer then saves the input), and a reader that splits one
/// fuzz input into the parts a harness needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace fuzz {

/// Aborts with `what` when `ok` is false: a broken property is a finding.
inline void require(bool ok, const char* what, std::string_view input = {}) {
  if (ok)
    return;
  std::fprintf(stderr, "property violated: %s\n", what);
  if (!input.empty())
    std::fprintf(stderr, "  on %zu bytes: %.*s\n", input.size(),
                 static_cast<int>(input.size() > 200 ? 200 : input.size()),
                 input.data());
  std::abort();
}

/// Reads a fuzz input in pieces: fields end at a 0xFF byte (a byte valid
/// UTF-8 never has, so text fields stay free to hold anything else), and
/// the last field takes what is left.
class input {
public:
  input(const uint8_t* data, size_t size)
      : rest_(reinterpret_cast<const char*>(data), size) {}

  /// The next field, without its terminator.
  std::string field() {
    auto end = rest_.find('\xFF');
    auto n = end == std::string_view::npos ? rest_.size() : end;
    std::string out{rest_.substr(0, n)};
    rest_.remove_prefix(end == std::string_view::npos ? n : n + 1);
    return out;
  }

  /// One byte (0 once the input is used up).
  uint8_t byte() {
    if (rest_.empty())
      return 0;
    auto b = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }

  /// Everything not read yet.
  std::string rest() {
    std::string out{rest_};
    rest_ = {};
    return out;
  }

  bool empty() const noexcept { return rest_.empty(); }

private:
  std::string_view rest_;
};

} // namespace fuzz
