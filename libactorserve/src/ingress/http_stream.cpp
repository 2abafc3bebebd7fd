#include "ingress/http_stream.hpp"

#include <nlohmann/json.hpp>

#include "base/text.hpp"
#include "actorserve/error.hpp"
#include "ingress/shard.hpp"

namespace actorserve::detail {

std::string sse_event(const std::string& data, const char* event) {
  std::string out;
  out.reserve(data.size() + 16);
  if (event != nullptr) {
    out += "event: ";
    out += event;
    out += '\n';
  }
  // One `data:` line per line of the chunk: a line break inside a chunk
  // (LF, CR or CRLF, as SSE clients read them) must not end the event early
  // or start a field of its own.
  size_t start = 0;
  for (;;) {
    auto nl = data.find_first_of("\r\n", start);
    out += "data: ";
    out.append(data, start, nl == std::string::npos ? nl : nl - start);
    out += '\n';
    if (nl == std::string::npos)
      break;
    start = nl + 1;
    if (data[nl] == '\r' && start < data.size() && data[start] == '\n')
      ++start;
  }
  out += '\n';
  return out;
}

http_stream::http_stream(ingress_shard& shard, restinio::request_handle_t req,
                         std::string request_id, chunked_response_t resp,
                         body_mode mode, http_metrics::stream_cells* cells,
                         std::chrono::steady_clock::time_point arrived)
    : shard_(shard), req_(std::move(req)), request_id_(std::move(request_id)),
      resp_(std::move(resp)), mode_(mode), conn_(req_->connection_id()),
      timer_(shard.ioc), cells_(cells), arrived_(arrived) {
  // Open from here: a stream that fails to open ends (on_end) before it
  // starts, and counts as an error.
  if (cells_ != nullptr)
    cells_->ongoing.add(1);
}

void http_stream::start(uint64_t tag) {
  tag_ = tag;
  arm(shard_.owner.opts.stream_first_chunk_timeout, "the first chunk");
}

void http_stream::arm(std::chrono::milliseconds limit, const char* what) {
  timer_.cancel();
  if (limit.count() <= 0)
    return;
  timer_.expires_after(limit);
  timer_.async_wait(
      [shard = &shard_, tag = tag_, limit, what](const asio::error_code& ec) {
        if (ec)
          return; // cancelled: a chunk came, or the stream ended
        shard->inbox->cancel(tag, make_error(errc::deadline_exceeded,
                                             std::string{"no chunk for "} +
                                                 std::to_string(limit.count()) +
                                                 " ms waiting for " + what));
      });
}

uint32_t http_stream::on_batch(caf::type_erased_tuple& msg) {
  if (!msg.match_element<std::vector<std::string>>(2)) {
    stop = make_error(errc::internal,
                      "an HTTP stream's chunks must be std::string");
    return 0;
  }
  auto& chunks = msg.get_as<std::vector<std::string>>(2);
  if (mode_ == body_mode::sse) {
    // The events of one batch go out as one HTTP chunk: an SSE client sees
    // the same events, and the socket gets one buffer instead of three per
    // event.
    std::string events;
    for (auto& chunk : chunks)
      events += sse_event(chunk);
    resp_.append_chunk(std::move(events));
  } else {
    for (auto& chunk : chunks)
      resp_.append_chunk(chunk);
  }
  auto n = static_cast<uint32_t>(chunks.size());
  if (cells_ != nullptr) {
    if (first_ && n > 0) {
      first_ = false;
      cells_->first_chunk_s.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                        arrived_)
              .count());
    }
    cells_->chunks.inc(n);
  }
  // Credit returns once the client's socket took the chunks.
  resp_.flush([shard = &shard_, tag = tag_, n](const asio::error_code& ec) {
    if (ec)
      shard->inbox->cancel(tag,
                           make_error(errc::cancelled, "the client went away"));
    else
      shard->inbox->ack(tag, n);
  });
  arm(shard_.owner.opts.stream_idle_timeout, "the next chunk");
  return 0;
}

void http_stream::on_end(const caf::error& err) {
  timer_.cancel();
  // Counted before the end goes out: a client that saw it sees the count.
  if (cells_ != nullptr) {
    cells_->ongoing.add(-1);
    if (!err)
      cells_->ok.inc();
    else if (code_of(err) == errc::cancelled)
      cells_->cancelled.inc();
    else
      cells_->failed.inc();
  }
  if (mode_ == body_mode::sse) {
    if (!err) {
      resp_.append_chunk(sse_event("{}", "done"));
    } else if (code_of(err) != errc::cancelled) {
      nlohmann::json body{{"error", message_of(err)},
                          {"code", to_string(code_of(err))},
                          {"request_id", request_id_}};
      resp_.append_chunk(sse_event(dump_json(body), "error"));
    }
  } else if (err && code_of(err) != errc::cancelled) {
    // Chunked transfer has no place for an error: the response ends and
    // the connection closes, so the client sees no clean keep-alive end.
    resp_.connection_close();
  }
  resp_.done();
  shard_.stream_ended(tag_);
}

} // namespace actorserve::detail
