/// @file
/// Dynamic batching's decision (batching.hpp): a batched method's options,
/// the calls waiting for it, and `plan_batch`, a pure function of them
/// that says which calls start a batch now and when to look again.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace actorserve {

/// A batched method's parameters (Ray's defaults); change them while
/// serving with `set_options` (from an `on_reconfigure` hook, say).
struct batch_options {
  /// Most calls in one batch. >= 1.
  uint32_t max_batch_size = 10;
  /// How long the oldest waiting call waits for the batch to fill.
  std::chrono::milliseconds batch_wait_timeout{10};
  /// Most batches running at once. >= 1.
  uint32_t max_concurrent_batches = 1;
  /// A call that waited longer than this is rejected (`overloaded`); 0
  /// means no limit. A call may set its own.
  std::chrono::milliseconds queue_timeout{0};
  /// How long a batch may run before its calls fail with
  /// `deadline_exceeded` and its slot (of `max_concurrent_batches`) is
  /// given back; an answer after that is ignored. 0: no limit (a batch
  /// that never answers then holds its slot for good). For a blocking
  /// batch the thread runs on until the handler returns.
  std::chrono::milliseconds batch_timeout{60'000};
  /// The method's name in metrics (Ray's `function_name` label), fixed
  /// when the batched method is made (`set_options` keeps it). Give each
  /// batched method of a deployment its own, or their metrics add up.
  std::string name = "__call__";
};

/// Checks the options; `invalid_config` naming the field.
caf::error validate(const batch_options& opts);

/// Per-call choices.
struct batch_call_options {
  /// Higher goes first; equal priorities keep their order.
  int priority = 0;
  /// Overrides `batch_options::queue_timeout` when > 0.
  std::chrono::milliseconds queue_timeout{0};
};

using batch_clock = caf::actor_clock::clock_type;

/// A waiting call, as `plan_batch` sees it.
struct waiting_call {
  int priority = 0;
  batch_clock::time_point arrived;
  /// When the call stops being worth running (its queue timeout or its
  /// deadline); `time_point::max()` when never.
  batch_clock::time_point expires = batch_clock::time_point::max();
  /// Its request was cancelled.
  bool cancelled = false;
};

/// What to do with the waiting calls now.
struct batch_plan {
  /// Indices of calls to drop: cancelled (no answer needed).
  std::vector<size_t> cancelled;
  /// Indices of calls to reject: they expired waiting.
  std::vector<size_t> expired;
  /// Indices of calls to run now as one batch, in batch order (empty:
  /// none).
  std::vector<size_t> batch;
  /// When to look again if nothing changes (unset: no need).
  std::optional<batch_clock::time_point> wake_at;
};

/// Decides one batch: drops cancelled calls, rejects expired ones, and
/// forms a batch of the highest-priority calls (oldest first among equals)
/// when `max_batch_size` of them wait or the oldest has waited
/// `batch_wait_timeout`, and fewer than `max_concurrent_batches` run.
batch_plan plan_batch(const std::vector<waiting_call>& queue,
                      const batch_options& opts, uint32_t running,
                      batch_clock::time_point now);

} // namespace actorserve
