#include "base/text.hpp"

#include <nlohmann/json.hpp>

namespace actorserve::detail {

namespace {

/// The length of the valid UTF-8 sequence at `x[i]`, or 0 if none starts
/// there (RFC 3629's table of well-formed byte sequences).
size_t sequence_at(std::string_view x, size_t i) noexcept {
  auto byte = [&](size_t k) {
    return static_cast<unsigned char>(x[i + k]);
  };
  auto c = byte(0);
  if (c < 0x80)
    return 1;
  size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0)
      lo = 0xA0; // no overlong forms
    else if (c == 0xED)
      hi = 0x9F; // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F; // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (i + n > x.size())
    return 0;
  auto second = byte(1);
  if (second < lo || second > hi)
    return 0;
  for (size_t k = 2; k < n; ++k)
    if ((byte(k) & 0xC0) != 0x80)
      return 0;
  return n;
}

} // namespace

bool valid_utf8(std::string_view x) noexcept {
  for (size_t i = 0; i < x.size();) {
    auto n = sequence_at(x, i);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

std::string to_valid_utf8(std::string_view x) {
  std::string out;
  out.reserve(x.size());
  for (size_t i = 0; i < x.size();) {
    auto n = sequence_at(x, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD"; // U+FFFD
      ++i;
    } else {
      out.append(x.data() + i, n);
      i += n;
    }
  }
  return out;
}

std::string clip_text(std::string_view x, size_t max_bytes) {
  auto valid = to_valid_utf8(x);
  if (valid.size() <= max_bytes)
    return valid;
  size_t end = 0;
  for (size_t i = 0; i < valid.size();) {
    auto n = sequence_at(valid, i);
    if (i + n > max_bytes)
      break;
    i += n;
    end = i;
  }
  valid.resize(end);
  valid += "...";
  return valid;
}

bool valid_request_id(std::string_view x) noexcept {
  if (x.empty() || x.size() > 128)
    return false;
  for (char c : x)
    if (c < 0x21 || c > 0x7E)
      return false;
  return true;
}

bool valid_header_text(std::string_view x) noexcept {
  for (char c : x)
    if (c == '\r' || c == '\n' || c == '\0')
      return false;
  return true;
}

bool valid_header_name(std::string_view x) noexcept {
  if (x.empty())
    return false;
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  for (char c : x) {
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                 (c >= 'A' && c <= 'Z');
    if (!alnum && extra.find(c) == std::string_view::npos)
      return false;
  }
  return true;
}

bool json_nesting_over(std::string_view x, size_t max_depth) noexcept {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < x.size(); ++i) {
    auto c = x[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

nlohmann::json parse_json_text(std::string_view x) {
  if (json_nesting_over(x, max_json_depth))
    return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(x.begin(), x.end(), nullptr, false);
}

std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace actorserve::detail
