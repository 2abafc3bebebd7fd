// An incremental HTTP/1.1 response parser: the status and the framing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common.hpp"

namespace loadgen {

// -- HTTP/1.1 response parsing -------------------------------------------

/// An incremental parser for one response: feed it bytes as they arrive.
/// Only the status and the framing are kept; body bytes are skipped.
class response_parser {
public:
  enum class result { need_more, done, failed };

  void reset() { *this = response_parser{}; }

  /// Consumes bytes of `buf` from `pos` on, advancing `pos`. Interim (1xx)
  /// responses are skipped.
  result feed(const std::string& buf, size_t& pos) {
    for (;;) {
      switch (phase_) {
      case phase::status_line:
      case phase::headers:
      case phase::chunk_size:
      case phase::chunk_end:
      case phase::trailers: {
        std::string line;
        if (!next_line(buf, pos, line))
          return pending_line_too_long(buf, pos) ? fail("header too long")
                                                 : result::need_more;
        if (!on_line(line))
          return result::failed;
        break;
      }
      case phase::body: {
        auto n = std::min(remaining_, buf.size() - pos);
        pos += n;
        remaining_ -= n;
        if (remaining_ > 0)
          return result::need_more;
        if (chunked_)
          phase_ = phase::chunk_end;
        else
          phase_ = phase::done;
        break;
      }
      case phase::until_close:
        pos = buf.size();
        return result::need_more;
      case phase::done:
        return result::done;
      }
    }
  }

  /// The peer closed the connection: a body delimited by the close is
  /// complete, anything else is cut short.
  result on_eof() {
    if (phase_ == phase::until_close) {
      phase_ = phase::done;
      close_ = true;
      return result::done;
    }
    return fail(started_ ? "connection closed mid-response"
                         : "connection closed before a response");
  }

  int status() const noexcept { return status_; }
  /// The server will close the connection after this response.
  bool closes() const noexcept { return close_; }
  const std::string& error() const noexcept { return error_; }

private:
  enum class phase {
    status_line,
    headers,
    body,
    chunk_size,
    chunk_end,
    trailers,
    until_close,
    done
  };

  bool next_line(const std::string& buf, size_t& pos, std::string& line) {
    if (pos < buf.size())
      started_ = true;
    auto nl = buf.find('\n', pos);
    if (nl == std::string::npos)
      return false;
    line.assign(buf, pos, nl - pos);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    pos = nl + 1;
    header_bytes_ += line.size() + 2;
    return true;
  }

  bool pending_line_too_long(const std::string& buf, size_t pos) const {
    return header_bytes_ + (buf.size() - pos) > max_header_bytes;
  }

  result fail(std::string why) {
    error_ = std::move(why);
    return result::failed;
  }

  bool reject(std::string why) {
    error_ = std::move(why);
    return false;
  }

  bool on_line(const std::string& line) {
    if (header_bytes_ > max_header_bytes)
      return reject("header too long");
    switch (phase_) {
    case phase::status_line:
      return on_status_line(line);
    case phase::headers:
      return line.empty() ? on_headers_end() : on_header(line);
    case phase::chunk_size:
      return on_chunk_size(line);
    case phase::chunk_end:
      if (!line.empty())
        return reject("missing CRLF after chunk");
      phase_ = phase::chunk_size;
      return true;
    case phase::trailers:
      if (line.empty())
        phase_ = phase::done;
      return true;
    default:
      return reject("internal parser state");
    }
  }

  bool on_status_line(const std::string& line) {
    // "HTTP/1.1 200 OK"
    if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0 ||
        line[8] != ' ')
      return reject("bad status line '" + line.substr(0, 80) + "'");
    http10_ = line[7] == '0';
    int status = 0;
    for (size_t i = 9; i < 12; ++i) {
      if (line[i] < '0' || line[i] > '9')
        return reject("bad status code in '" + line.substr(0, 80) + "'");
      status = status * 10 + (line[i] - '0');
    }
    if (line.size() > 12 && line[12] != ' ')
      return reject("bad status line '" + line.substr(0, 80) + "'");
    status_ = status;
    phase_ = phase::headers;
    return true;
  }

  bool on_header(const std::string& line) {
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0)
      return reject("bad header line '" + line.substr(0, 80) + "'");
    auto name = lower(line.substr(0, colon));
    auto value = trim(line.substr(colon + 1));
    if (name == "content-length") {
      char* end = nullptr;
      errno = 0;
      auto n = std::strtoull(value.c_str(), &end, 10);
      bool valid =
          !value.empty() && value[0] != '-' && *end == '\0' && errno == 0;
      if (!valid || (content_length_ >= 0 &&
                     static_cast<unsigned long long>(content_length_) != n))
        return reject("bad Content-Length '" + value + "'");
      content_length_ = static_cast<int64_t>(n);
    } else if (name == "transfer-encoding") {
      chunked_ = has_token(value, "chunked");
    } else if (name == "connection") {
      if (has_token(value, "close"))
        close_ = true;
      if (has_token(value, "keep-alive"))
        keep_alive_ = true;
    }
    return true;
  }

  bool on_headers_end() {
    if (status_ >= 100 && status_ < 200) {
      // An interim response (e.g. 100 Continue): the real one follows.
      reset_keeping_started();
      return true;
    }
    if (http10_ && !keep_alive_)
      close_ = true;
    if (status_ == 204 || status_ == 304) {
      phase_ = phase::done;
    } else if (chunked_) {
      phase_ = phase::chunk_size;
    } else if (content_length_ >= 0) {
      remaining_ = static_cast<size_t>(content_length_);
      phase_ = remaining_ > 0 ? phase::body : phase::done;
    } else {
      phase_ = phase::until_close;
    }
    return true;
  }

  bool on_chunk_size(const std::string& line) {
    auto digits = line.substr(0, line.find(';'));
    digits = trim(digits);
    char* end = nullptr;
    errno = 0;
    auto n = std::strtoull(digits.c_str(), &end, 16);
    if (digits.empty() || *end != '\0' || errno != 0 || digits[0] == '-')
      return reject("bad chunk size '" + line.substr(0, 80) + "'");
    header_bytes_ = 0; // the limit applies per line of chunk framing
    if (n == 0) {
      phase_ = phase::trailers;
    } else {
      remaining_ = static_cast<size_t>(n);
      phase_ = phase::body;
    }
    return true;
  }

  void reset_keeping_started() {
    reset();
    started_ = true;
  }

  phase phase_ = phase::status_line;
  bool started_ = false;
  int status_ = 0;
  bool http10_ = false;
  bool keep_alive_ = false;
  bool close_ = false;
  bool chunked_ = false;
  int64_t content_length_ = -1;
  size_t remaining_ = 0;
  size_t header_bytes_ = 0;
  std::string error_;
};

} // namespace loadgen
