/// @file
/// Dynamic batching, the analogue of Ray Serve's `@serve.batch`: calls that
/// arrive one at a time are answered by a handler that takes a vector of
/// inputs and returns a vector of outputs.
///
/// ```cpp
/// model_actor::behavior_type model(model_actor::pointer self) {
///   batch_options opts;                         // 10 items, 10 ms, 1 batch
///   auto infer = make_blocking_batch<double, double>(
///       self, opts, [](std::vector<double> xs) {  // on a user thread
///         return run_model(xs);                   // one output per input
///       });
///   return {[infer](double x) { return infer(x); }};
/// }
/// ```
///
/// A batch goes when `max_batch_size` calls wait, or `batch_wait_timeout`
/// after the oldest waiting call arrived, whichever comes first, and only
/// while fewer than `max_concurrent_batches` batches run. Beyond Ray (from
/// Triton's dynamic batcher): a call may carry a priority (higher ones are
/// batched first) and a queue timeout (a call that waited longer is
/// rejected with `overloaded`, never run late). A call whose request was
/// cancelled, or whose deadline passed, leaves the queue unanswered by the
/// handler. When to batch is a pure function of plain data (`plan_batch`),
/// tested without actors.
///
/// Three flavours of handler:
/// - `make_batch`: `std::vector<Out> f(std::vector<In>)` on the actor's own
///   thread (it must not block);
/// - `make_blocking_batch`: the same on one of the replica's blocking
///   threads (a model's forward pass);
/// - `make_async_batch`: `void f(std::vector<In>, batch_done<Out>)`, which
///   answers later through `done(results)` (after calls of its own).
///
/// Every batch is answered exactly once: the first `done` counts (from any
/// thread), and a batch that has not answered within
/// `batch_options::batch_timeout` fails its calls with `deadline_exceeded`
/// and frees its slot; anything after that is ignored.
///
/// A handler may return `std::vector<caf::expected<Out>>` instead: an error
/// fails only its item. Returning a vector of another length fails every
/// call of the batch with `internal`, naming both lengths; throwing fails
/// every call of the batch with `user_error` and the message.
///
/// Metrics (Ray's names, labelled with the replica's `deployment`,
/// `replica`, `application` and the method's `function_name`):
/// `ray_serve_batch_wait_time_ms` (per call, arrival to its batch's start),
/// `ray_serve_batch_execution_time_ms`, `ray_serve_actual_batch_size` and
/// `ray_serve_batch_utilization_percent` (per batch: its size over
/// `max_batch_size`), and the gauge `ray_serve_batch_queue_length`.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/expected.hpp>
#include <caf/send.hpp>
#include <caf/typed_response_promise.hpp>

#include "actorserve/batcher.hpp"
#include "actorserve/error.hpp"
#include "actorserve/handle.hpp"
#include "actorserve/metrics.hpp"
#include "actorserve/replica_api.hpp"

namespace actorserve {

/// A batched method: call it with one input from a handler; it returns the
/// response promise that its batch answers.
template <class In, class Out>
class batch_handle {
public:
  explicit batch_handle(std::shared_ptr<detail::batcher<In, Out>> b)
      : b_(std::move(b)) {}

  caf::typed_response_promise<Out> operator()(In x,
                                              batch_call_options o = {}) const {
    return b_->enqueue(std::move(x), o);
  }

  /// Changes the parameters while serving (the next batch uses them).
  /// Invalid options throw `error_exception` (`invalid_config`).
  void set_options(batch_options opts) const {
    if (auto err = validate(opts))
      throw error_exception(code_of(err), message_of(err));
    b_->set_options(std::move(opts));
  }

  const batch_options& options() const noexcept { return b_->options(); }

  size_t waiting() const noexcept { return b_->waiting(); }

  uint32_t running() const noexcept { return b_->running(); }

private:
  std::shared_ptr<detail::batcher<In, Out>> b_;
};

/// Answers an async batch with one result per input. Only the first call
/// counts, from whatever thread (on another than the actor's, the answers
/// go through the actor); later ones, and any after the batch's
/// `batch_timeout`, do nothing.
template <class Out>
using batch_done = std::function<void(std::vector<caf::expected<Out>>)>;

/// A batched method whose handler answers later through `done` (on the
/// actor's thread, e.g. from a continuation). Up to
/// `max_concurrent_batches` run at once. Bad options throw
/// `error_exception` (`invalid_config`), failing the constructor.
template <class In, class Out, class Self, class F>
batch_handle<In, Out> make_async_batch(Self* self, batch_options opts, F f) {
  if (auto err = validate(opts))
    throw error_exception(code_of(err), message_of(err));
  auto b = std::make_shared<detail::batcher<In, Out>>(
      self, opts,
      [f = std::move(f)](std::vector<In> xs, batch_done<Out> done) mutable {
        auto n = xs.size();
        try {
          f(std::move(xs), done);
        } catch (...) {
          done(detail::all_failed<Out>(n, std::current_exception()));
        }
      });
  b->start();
  return batch_handle<In, Out>{std::move(b)};
}

/// A batched method whose handler runs inside the actor itself and
/// returns at once: `std::vector<Out> f(std::vector<In>)` (or a vector of
/// `caf::expected<Out>`).
template <class In, class Out, class Self, class F>
batch_handle<In, Out> make_batch(Self* self, batch_options opts, F f) {
  return make_async_batch<In, Out>(
      self, opts,
      [f = std::move(f)](std::vector<In> xs, batch_done<Out> done) mutable {
        done(detail::to_results<Out>(f(std::move(xs))));
      });
}

/// A batched method whose handler blocks (a model's forward pass): it runs
/// on one of the replica's blocking threads, never on the actor's, and up
/// to `max_concurrent_batches` batches run at once.
template <class In, class Out, class Self, class F>
batch_handle<In, Out> make_blocking_batch(Self* self, batch_options opts, F f) {
  auto fn = std::make_shared<F>(std::move(f));
  return make_async_batch<In, Out>(
      self, opts, [self, fn](std::vector<In> xs, batch_done<Out> done) {
        using results = std::vector<caf::expected<Out>>;
        auto n = xs.size();
        // The job computes; the answer (holding the calls' promises) stays
        // in the slot, which the actor empties if it stops first.
        auto slot = std::make_shared<detail::batch_slot>();
        auto out = std::make_shared<results>();
        slot->answer = [done, out] { done(std::move(*out)); };
        detail::offload(
            self, slot,
            [fn, xs = std::move(xs), slot, out,
             n]() mutable -> std::function<void()> {
              try {
                *out = detail::to_results<Out>((*fn)(std::move(xs)));
              } catch (...) {
                *out = detail::all_failed<Out>(n, std::current_exception());
              }
              return [slot] {
                if (auto answer = std::move(slot->answer))
                  answer();
              };
            });
      });
}

} // namespace actorserve
