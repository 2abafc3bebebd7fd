/// @file
/// Consuming streams: in a deployment (`consume`), and at the HTTP ingress
/// (`sse_response`, `chunked_response`). Included by stream.hpp; `main()`
/// reads streams with stream_reader.hpp.
#pragma once

#include <string>

#include "actorserve/stream.hpp"

namespace actorserve {

namespace detail {

/// The inbox of the replica `self` (streams it consumes).
stream_inbox& inbox_of(caf::local_actor* self);

/// A chunk handler threw: the stream is cancelled and ends with that error.
caf::error chunk_handler_failed(std::exception_ptr eptr);

template <class T, class OnChunk, class OnEnd>
class callback_inbound final : public inbound {
public:
  callback_inbound(caf::local_actor* self, caf::strong_actor_ptr context,
                   OnChunk on_chunk, OnEnd on_end)
      : self_(self), context_(std::move(context)),
        on_chunk_(std::move(on_chunk)), on_end_(std::move(on_end)) {}

  uint32_t on_batch(caf::type_erased_tuple& msg) override {
    if (!msg.match_element<std::vector<T>>(2))
      return 0;
    auto& chunks = msg.get_mutable_as<std::vector<T>>(2);
    restore_context ctx{self_, context_};
    uint32_t n = 0;
    try {
      for (auto& x : chunks) {
        ++n;
        using result = decltype(on_chunk_(x));
        if constexpr (std::is_same<result, bool>::value) {
          if (!on_chunk_(x)) {
            stop = make_error(errc::cancelled, "the consumer stopped");
            break;
          }
        } else {
          on_chunk_(x);
        }
      }
    } catch (...) {
      stop = chunk_handler_failed(std::current_exception());
    }
    return n;
  }

  void on_end(const caf::error& err) override {
    restore_context ctx{self_, context_};
    try {
      on_end_(err);
    } catch (...) {
      // Nothing is left to fail: the stream is over.
    }
  }

private:
  caf::local_actor* self_;
  caf::strong_actor_ptr context_;
  OnChunk on_chunk_;
  OnEnd on_end_;
};

} // namespace detail

/// Reads `s` in the replica `self`: `on_chunk(T&)` for each chunk, in order,
/// then `on_end(const caf::error&)` once (no error when the stream is
/// complete). `on_chunk` may return `bool`; false cancels the stream (the
/// end is then `cancelled`). A handler that throws cancels the stream too,
/// and `on_end` gets `user_error`. `window`: chunks the producer may send
/// ahead. Both run in the context of the current request.
template <class T, class Self, class OnChunk, class OnEnd>
void consume(Self* self, const stream<T>& s, OnChunk on_chunk, OnEnd on_end,
             uint32_t window = detail::default_stream_window) {
  static_assert(std::is_invocable<OnChunk&, T&>::value,
                "consume(): on_chunk must take the stream's chunk type, T&");
  static_assert(std::is_invocable<OnEnd&, const caf::error&>::value,
                "consume(): on_end must take const caf::error&");
  using entry_type = detail::callback_inbound<T, OnChunk, OnEnd>;
  detail::inbox_of(self).open(
      s.ref(), window,
      std::make_unique<entry_type>(self, detail::context_token(self),
                                   std::move(on_chunk), std::move(on_end)));
}

/// An HTTP response that streams `s` as Server-Sent Events: each chunk is
/// one `data:` event, then `event: done`; an error ends it with
/// `event: error` and a JSON `data:` line.
inline http_response sse_response(const stream<std::string>& s) {
  http_response r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.mode = body_mode::sse;
  r.stream = s.ref();
  return r;
}

/// An HTTP response that streams `s` with chunked transfer encoding, one
/// HTTP chunk per stream chunk.
inline http_response
chunked_response(const stream<std::string>& s,
                 std::string content_type = "text/plain; charset=utf-8") {
  http_response r;
  r.content_type = std::move(content_type);
  r.mode = body_mode::chunked;
  r.stream = s.ref();
  return r;
}

} // namespace actorserve
