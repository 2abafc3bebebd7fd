/// @file
/// The moving parts of streams (stream_ref.hpp has the protocol): the
/// producer's side of one stream (`outbound`), the consumer's side
/// (`inbound`), and the table of streams a consuming actor reads
/// (`stream_inbox`). User code uses stream.hpp instead.
///
/// Threading: an `outbound` belongs to its producing user actor and an
/// `inbound` to its consumer's inbox; both are touched only by the thread
/// that runs that actor (the shard's thread for the HTTP ingress).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/attachable.hpp>
#include <caf/error.hpp>
#include <caf/message.hpp>
#include <caf/type_erased_tuple.hpp>

#include "actorserve/stream_ref.hpp"

namespace actorserve::detail {

/// `(stream_wake_atom, id)`: a paused or suspended producer may go on.
using stream_wake_atom = caf::atom_constant<caf::atom("as_swake")>;

/// The default window: chunks a producer may send ahead of its consumer.
constexpr uint32_t default_stream_window = 16;

/// Tells `notify` with `msg` when the watched actor exits. `key` names the
/// watch, for `unwatch`.
void watch_actor(const caf::actor& watched, caf::abstract_actor* notify,
                 caf::message msg, const void* key);

/// Removes the watch `key` from `watched` (nothing if it fired or is gone).
void unwatch_actor(const caf::actor& watched, const void* key);

// -- the producer's side ------------------------------------------------------

class user_plane;
class admission_gate;

/// One stream a user actor produces.
class outbound {
public:
  virtual ~outbound();

  /// The consumer opened the stream with `window` credit: start.
  virtual void on_open() = 0;

  /// More credit arrived (`credit` is updated).
  virtual void on_credit() = 0;

  /// A pause ended, or a suspended generator was woken.
  virtual void on_wake() = 0;

  /// The consumer cancelled or went away: stop at the next chunk.
  virtual void on_cancel() = 0;

  /// The producing actor is exiting: end without touching it.
  virtual void on_exit() = 0;

  uint64_t id = 0;
  user_plane* plane = nullptr;
  /// The producing actor (which owns this object).
  caf::local_actor* self = nullptr;
  caf::actor consumer;
  /// The consumer's name for the stream, echoed in batches and the end.
  uint64_t tag = 0;
  /// The replica's gate, where the stream holds a slot until it ends.
  std::shared_ptr<admission_gate> gate;
  uint32_t credit = 0;
  bool opened = false;
  /// The request that made the stream (its reply guard): the generator
  /// runs in its context, and cancelling the stream cancels it.
  caf::strong_actor_ptr context;
  /// Asynchronous generators: waiting for a timer or a waker; ended (with
  /// `err`, none when complete); the generation of the pending wake-up.
  bool paused = false;
  bool done = false;
  caf::error err;
  uint64_t epoch = 0;
};

// -- the consumer's side ------------------------------------------------------

/// One stream a consumer reads.
class inbound {
public:
  virtual ~inbound();

  /// `chunks` is the batch message `(stream_batch_atom, id, vector<T>)`.
  /// Returns how many chunks the consumer is done with now (credit goes
  /// back for them); the rest it acknowledges later with `ack`.
  virtual uint32_t on_batch(caf::type_erased_tuple& chunks) = 0;

  /// The stream ended: no error when complete.
  virtual void on_end(const caf::error& err) = 0;

  /// Set by `on_batch` to cancel the stream; the entry then ends with it.
  caf::error stop;
};

/// The streams one consumer actor reads.
class stream_inbox {
public:
  /// `host`: the consuming actor, which owns the inbox (credit and cancels
  /// are sent in its name).
  explicit stream_inbox(caf::abstract_actor* host) : host_(host) {}

  /// Cancels every stream still open.
  ~stream_inbox();

  stream_inbox(const stream_inbox&) = delete;
  stream_inbox& operator=(const stream_inbox&) = delete;

  /// Opens `ref` with `window` credit; `entry` gets its chunks. A stream
  /// someone else opened already fails `entry` at once (`bad_request`).
  /// Returns the stream's tag (for `ack` and `cancel`), or 0 when it
  /// failed.
  uint64_t open(const stream_ref& ref, uint32_t window,
                std::unique_ptr<inbound> entry);

  /// Handles `(stream_batch_atom, ...)` and `(stream_end_atom, ...)`.
  /// Returns false for any other message.
  bool handle(caf::type_erased_tuple& msg);

  /// The consumer is done with `n` more chunks of stream `key`.
  void ack(uint64_t key, uint32_t n);

  /// Cancels stream `key` at its producer; its entry ends with `err`.
  void cancel(uint64_t key, caf::error err);

  /// Cancels every stream (the consumer is going away).
  void cancel_all();

  size_t size() const noexcept { return streams_.size(); }

private:
  struct slot {
    std::unique_ptr<inbound> entry;
    caf::actor producer;
    uint64_t id;
    uint32_t window;
    uint32_t done = 0; // chunks consumed and not yet credited
  };

  void end(uint64_t key, const caf::error& err);

  caf::abstract_actor* host_;
  uint64_t next_key_ = 1;
  std::unordered_map<uint64_t, slot> streams_;
};

} // namespace actorserve::detail
