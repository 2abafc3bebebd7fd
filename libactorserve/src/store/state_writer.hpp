/// @file
/// The state store's writer (private to the library): a thread of its own
/// that applies the controller's batches to the store in order, so that a
/// slow or absent store never holds the controller or the request path.
///
/// Batches that wait while one is written merge into one (a later put of a
/// key replaces an earlier one, an erase drops it), which is applied
/// atomically: the store only ever holds a state that some submitted
/// change produced. A failed write is retried with backoff (100 ms
/// doubling to 5 s) until it succeeds or the writer stops (after which the
/// store is brought in line with everything written, as below); `health` says
/// whether the store keeps up, for status, metrics and for refusing
/// changes with 503.
///
/// Ownership: `serve` owns the writer; the controller holds a shared
/// pointer and calls `submit` from its own thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "store/state_store.hpp"

namespace actorserve::detail {

class state_writer {
public:
  struct health_info {
    /// The last write succeeded (or nothing was written yet).
    bool ok = true;
    /// Why the last write failed; empty when ok.
    std::string error;
    /// When the writes began failing (milliseconds since the Unix epoch);
    /// 0 when ok.
    int64_t failing_since_ms = 0;
    /// Batches submitted, and how many of them are in the store.
    uint64_t submitted = 0;
    uint64_t written = 0;
    /// Failed writes since start.
    uint64_t failures = 0;
    std::string where;
  };

  virtual ~state_writer() = default;

  /// Queues `batch`; never blocks. Returns its sequence number.
  virtual uint64_t submit(store_batch batch) = 0;

  /// Waits until every batch up to `seq` is in the store: false when
  /// `timeout` passes first (the store is away) or the writer stopped.
  virtual bool wait_written(uint64_t seq, std::chrono::milliseconds timeout) = 0;

  virtual health_info health() const = 0;

  /// The store was unreachable for a while (seen by another connection):
  /// it may have lost data, so the writer reads it and writes what it
  /// lacks, now and, should that fail, with the next write.
  virtual void resync() = 0;

  /// Another connection found the store unreachable (`why`): health says
  /// so, and changes are refused, until a write or `resync` succeeds.
  virtual void report_unreachable(const std::string& why) = 0;

  /// Writes what waits (for at most `timeout`), then ends the thread.
  virtual void stop(std::chrono::milliseconds timeout) = 0;
};

using writer_ptr = std::shared_ptr<state_writer>;

/// Starts a writer over `store`, which holds `initial` now (what the head
/// read back). The writer keeps what the store should hold: when writes
/// failed and then succeed again, it reads the store and writes the
/// difference, so that a store that lost its data while away (a Redis
/// restarted without persistence) catches up.
writer_ptr start_state_writer(store_ptr store,
                              std::map<std::string, std::string> initial = {});

} // namespace actorserve::detail
