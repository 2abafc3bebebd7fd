/// @file
/// A reference to a stream of chunks, and the credit protocol that moves
/// them.
///
/// A deployment method that streams answers with a `stream<T>`
/// (stream.hpp), a value that names the producing user actor and a stream
/// id. The stream does not start when it is made: it starts when a
/// consumer opens it. Until then the value can be passed on like any other
/// (the TokenStreamer pattern: an ingress deployment hands a generator's
/// stream to the HTTP ingress inside its `http_response`).
///
/// Protocol (every message is asynchronous; `id` is the producer's stream
/// id, `tag` the consumer's name for the stream):
///
/// | message | from → to | meaning |
/// |---|---|---|
/// | `(stream_open_atom, id, uint32 window, uint64 tag)` | consumer → producer
/// | binds the consumer (the sender) and grants `window` chunks of credit | |
/// `(stream_credit_atom, id, uint32 n)` | consumer → producer | the consumer is
/// done with `n` chunks: `n` more may be sent | | `(stream_cancel_atom, id)` |
/// consumer → producer | stop: the producer stops at its next chunk and
/// releases its slot | | `(stream_batch_atom, tag, std::vector<T>)` | producer
/// → consumer | chunks, in order, never more than the credit | |
/// `(stream_end_atom, tag, caf::error)` | producer → consumer | the end: no
/// error for a complete stream, else why it failed |
///
/// Only one consumer opens a stream: the first to claim its anchor.
///
/// Ownership and ends: the producer holds one slot of its replica's
/// `max_ongoing_requests` from the moment the stream is made until it ends
/// (complete, failed, cancelled). Each side watches the other actor: a
/// consumer that exits cancels the stream; a producer that exits ends it
/// with `unavailable` at the consumer. A stream value whose last copy goes
/// away unopened cancels the stream (`stream_anchor`), so a stream nobody
/// consumes leaks nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/save_callback.hpp>
#include <caf/none.hpp>

namespace actorserve {

using stream_open_atom = caf::atom_constant<caf::atom("as_sopen")>;
using stream_credit_atom = caf::atom_constant<caf::atom("as_scred")>;
using stream_cancel_atom = caf::atom_constant<caf::atom("as_scanc")>;
using stream_batch_atom = caf::atom_constant<caf::atom("as_sbat")>;
using stream_end_atom = caf::atom_constant<caf::atom("as_send")>;

namespace detail {

/// Shared by every copy of one stream value in this process. The first
/// consumer to open the stream claims it; if no copy was ever opened, the
/// last one to go cancels the stream at its producer.
struct stream_anchor {
  stream_anchor(caf::actor producer, uint64_t id)
      : producer(std::move(producer)), id(id) {}
  ~stream_anchor();
  stream_anchor(const stream_anchor&) = delete;
  stream_anchor& operator=(const stream_anchor&) = delete;

  /// Returns true for the first caller only.
  bool claim() noexcept { return !opened.exchange(true); }

  caf::actor producer;
  uint64_t id;
  std::atomic<bool> opened{false};
};

} // namespace detail

/// An untyped stream reference (what the HTTP ingress consumes; typed code
/// uses `stream<T>`).
struct stream_ref {
  caf::actor producer;
  uint64_t id = 0;
  std::shared_ptr<detail::stream_anchor> anchor;

  explicit operator bool() const noexcept { return static_cast<bool>(anchor); }
};

/// Crossing nodes: the copy sent away takes the stream over (copies left
/// in this process no longer cancel it when they go), and the copy that
/// arrives gets an anchor of its own, which cancels the stream at its
/// producer if no one there opens it.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_ref& x) {
  return f(x.producer, x.id, caf::meta::save_callback([&x]() -> caf::error {
             if (x.anchor)
               x.anchor->claim();
             return caf::none;
           }),
           caf::meta::load_callback([&x]() -> caf::error {
             x.anchor =
                 std::make_shared<detail::stream_anchor>(x.producer, x.id);
             return caf::none;
           }));
}

} // namespace actorserve
