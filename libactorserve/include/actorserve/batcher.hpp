/// @file
/// The machinery behind a batched method (batching.hpp): the queue of
/// waiting calls in the user actor, its timer, its metrics, and running a
/// batch inline, async or on the blocking threads.
#pragma once

#include <algorithm>
#include <atomic>
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

#include "actorserve/batch_plan.hpp"
#include "actorserve/error.hpp"
#include "actorserve/handle.hpp"
#include "actorserve/metrics.hpp"
#include "actorserve/replica_api.hpp"

namespace actorserve {

namespace detail {

/// `(batch_tick_atom, uint64 batcher)` from a user actor to itself: a
/// batcher's wait ended.
using batch_tick_atom = caf::atom_constant<caf::atom("as_batch")>;

/// The part of a batcher the user plane knows: it calls `tick` when the
/// batcher's timer fires.
class batcher_base {
public:
  virtual ~batcher_base();
  virtual void tick() = 0;
};

/// Registers a batcher with `self`'s user plane; returns its id for
/// `batch_tick_atom`. The plane holds it weakly.
uint64_t add_batcher(caf::local_actor* self, std::weak_ptr<batcher_base> b);

/// The metrics of one batched method (no-ops with metrics off).
struct batch_metrics {
  histogram wait_ms;
  histogram execution_ms;
  histogram size;
  histogram utilization;
  gauge queue_length;
};

/// Makes the metrics of the batched method `name` of `self`'s replica.
batch_metrics make_batch_metrics(caf::local_actor* self,
                                 const std::string& name);

/// The error of a batch whose handler returned `outputs` results for
/// `inputs` calls.
caf::error batch_length_error(size_t inputs, size_t outputs);

/// A blocking batch's hold on its answer: the job holds the slot, and the
/// actor drops the answer (with the calls' promises) when it stops first.
struct batch_slot final : promise_slot_base {
  std::function<void()> answer;
  void drop() override { answer = nullptr; }
};

template <class T>
struct is_expected : std::false_type {};

template <class T>
struct is_expected<caf::expected<T>> : std::true_type {};

/// The batching machinery of one batched method.
template <class In, class Out>
class batcher : public batcher_base,
                public std::enable_shared_from_this<batcher<In, Out>> {
public:
  using promise_type = caf::typed_response_promise<Out>;
  using results = std::vector<caf::expected<Out>>;
  /// Runs a batch; calls `done` with one result per input. The first call
  /// counts, from any thread; later ones, and one after the batch's
  /// `batch_timeout`, are ignored.
  using runner =
      std::function<void(std::vector<In>, std::function<void(results)>)>;

  batcher(caf::local_actor* self, batch_options opts, runner run)
      : self_(self), opts_(std::move(opts)), run_(std::move(run)) {}

  void start() {
    plane_ = &user_plane_of(self_);
    id_ = add_batcher(self_, this->weak_from_this());
    metrics_ = make_batch_metrics(self_, opts_.name);
  }

  /// Queues `x`; the returned promise is answered once its batch ran.
  promise_type enqueue(In x, batch_call_options o) {
    auto rp = self_->make_response_promise<Out>();
    item it;
    it.input = std::move(x);
    it.slot = std::make_shared<slot_type>(
        rp, rp.pending() ? caf::strong_actor_ptr{} : context_token(self_));
    it.info.priority = o.priority;
    auto now = self_->clock().now();
    it.info.arrived = now;
    auto limit =
        o.queue_timeout.count() > 0 ? o.queue_timeout : opts_.queue_timeout;
    if (limit.count() > 0)
      it.info.expires = now + limit;
    if (auto ctx = request_context_of(self_);
        ctx.deadline.time_since_epoch().count() != 0) {
      auto left = std::chrono::duration_cast<batch_clock::duration>(
          ctx.deadline - caf::make_timestamp());
      if (now + left < it.info.expires) {
        it.info.expires = now + left;
        it.by_deadline = true;
      }
    }
    it.cancel = cancellation_of(self_);
    queue_.push_back(std::move(it));
    pump();
    return rp;
  }

  const batch_options& options() const noexcept { return opts_; }

  /// New parameters; they apply to the next batch.
  void set_options(batch_options opts) {
    opts.name = opts_.name; // the metrics keep their label
    opts_ = std::move(opts);
    pump();
  }

  /// Calls waiting now.
  size_t waiting() const noexcept { return queue_.size(); }

  /// Batches running now.
  uint32_t running() const noexcept {
    return static_cast<uint32_t>(runs_.size());
  }

  void tick() override {
    armed_.reset();
    pump();
  }

private:
  using slot_type = promise_slot<promise_type>;

  /// A batch that runs: answered once, by its `done` or at its deadline,
  /// whichever comes first (`over` says one came).
  struct running_batch {
    std::atomic<bool> over{false};
    std::vector<std::shared_ptr<slot_type>> slots;
    batch_clock::time_point deadline = batch_clock::time_point::max();
    std::chrono::milliseconds limit{0};
    std::chrono::steady_clock::time_point started;
  };
  using run_ptr = std::shared_ptr<running_batch>;

  struct item {
    In input;
    std::shared_ptr<slot_type> slot;
    waiting_call info;
    cancellation_token cancel;
    /// It expires by its request's deadline, not the queue timeout.
    bool by_deadline = false;
  };

  void pump() {
    expire_runs();
    for (;;) {
      std::vector<waiting_call> infos;
      infos.reserve(queue_.size());
      for (auto& it : queue_) {
        it.info.cancelled = it.cancel.cancelled();
        infos.push_back(it.info);
      }
      auto plan = plan_batch(infos, opts_, running(), self_->clock().now());
      auto limit = [&](const item& it) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
            it.info.expires - it.info.arrived);
        return std::to_string(ms.count());
      };
      std::vector<bool> gone(queue_.size(), false);
      for (auto i : plan.cancelled) {
        queue_[i].slot->deliver(
            make_error(errc::cancelled, "the request was cancelled"));
        gone[i] = true;
      }
      for (auto i : plan.expired) {
        if (queue_[i].by_deadline)
          queue_[i].slot->deliver(
              make_error(errc::deadline_exceeded,
                         "the request expired in the batch queue"));
        else
          queue_[i].slot->deliver(make_error(
              errc::overloaded, "the call waited " + limit(queue_[i]) +
                                    " ms (its queue timeout) in the batch "
                                    "queue without a batch"));
        gone[i] = true;
      }
      std::vector<In> inputs;
      std::vector<std::shared_ptr<slot_type>> slots;
      auto now = self_->clock().now();
      for (auto i : plan.batch) {
        metrics_.wait_ms.observe(std::chrono::duration<double, std::milli>(
                                     now - queue_[i].info.arrived)
                                     .count());
        inputs.push_back(std::move(queue_[i].input));
        slots.push_back(queue_[i].slot);
        gone[i] = true;
      }
      size_t k = 0;
      queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                                  [&](const item&) { return gone[k++]; }),
                   queue_.end());
      metrics_.queue_length.set(static_cast<double>(queue_.size()));
      if (!slots.empty()) {
        run_batch(std::move(inputs), std::move(slots));
        continue; // maybe another batch
      }
      auto wake = plan.wake_at;
      for (auto& r : runs_)
        if (r->deadline != batch_clock::time_point::max() &&
            (!wake || r->deadline < *wake))
          wake = r->deadline;
      arm(wake);
      return;
    }
  }

  void run_batch(std::vector<In> inputs,
                 std::vector<std::shared_ptr<slot_type>> slots) {
    auto run = std::make_shared<running_batch>();
    run->slots = std::move(slots);
    run->started = std::chrono::steady_clock::now();
    run->limit = opts_.batch_timeout;
    if (run->limit.count() > 0)
      run->deadline = self_->clock().now() + run->limit;
    runs_.push_back(run);
    auto n = inputs.size();
    metrics_.size.observe(static_cast<double>(n));
    metrics_.utilization.observe(100.0 * static_cast<double>(n) /
                                 opts_.max_batch_size);
    run_(std::move(inputs), make_done(std::move(run), n));
  }

  /// The `done` of batch `run`: the first call answers (on the actor's
  /// thread; from any other, through the actor), the rest do nothing.
  std::function<void(results)> make_done(run_ptr run, size_t n) {
    return [run, n, weak = this->weak_from_this(), plane = plane_,
            back = plane_poster(*plane_, self_),
            exec_ms = metrics_.execution_ms](results out) mutable {
      if (run->over.exchange(true))
        return; // answered already, or its deadline passed
      auto finish = [run, n, weak, exec_ms,
                     out = std::move(out)]() mutable {
        exec_ms.observe(std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - run->started)
                            .count());
        answer(run->slots, n, std::move(out));
        run->slots.clear();
        if (auto self = weak.lock())
          self->retire(run);
      };
      if (running_plane() == plane)
        finish();
      else
        back.post(std::move(finish));
    };
  }

  static void answer(std::vector<std::shared_ptr<slot_type>>& slots, size_t n,
                     results out) {
    if (out.size() != n) {
      auto err = batch_length_error(n, out.size());
      for (auto& s : slots)
        s->deliver(err);
      return;
    }
    for (size_t i = 0; i < n; ++i) {
      if (out[i])
        slots[i]->deliver(std::move(*out[i]));
      else
        slots[i]->deliver(std::move(out[i].error()));
    }
  }

  /// Batch `run` answered: its slot is free.
  void retire(const run_ptr& run) {
    auto i = std::find(runs_.begin(), runs_.end(), run);
    if (i != runs_.end())
      runs_.erase(i);
    pump();
  }

  /// Fails the calls of batches past their deadline, freeing their slots.
  void expire_runs() {
    auto now = self_->clock().now();
    for (auto i = runs_.begin(); i != runs_.end();) {
      auto& run = **i;
      if (run.deadline > now || run.over.exchange(true)) {
        ++i; // running, or answered and on its way here
        continue;
      }
      auto err = make_error(errc::deadline_exceeded,
                            "the batch did not answer within its "
                            "batch_timeout (" +
                                std::to_string(run.limit.count()) + " ms)");
      for (auto& slot : run.slots)
        slot->deliver(err);
      run.slots.clear();
      i = runs_.erase(i);
    }
  }

  void arm(std::optional<batch_clock::time_point> at) {
    if (!at || (armed_ && *armed_ <= *at))
      return;
    armed_ = at;
    auto delay = *at - self_->clock().now();
    if (delay < batch_clock::duration::zero())
      delay = batch_clock::duration::zero();
    caf::delayed_anon_send(caf::actor_cast<caf::actor>(self_), delay,
                           batch_tick_atom::value, id_);
  }

  caf::local_actor* self_;
  batch_options opts_;
  runner run_;
  uint64_t id_ = 0;
  std::vector<item> queue_;
  std::vector<run_ptr> runs_;
  user_plane* plane_ = nullptr;
  std::optional<batch_clock::time_point> armed_;
  batch_metrics metrics_;
};

/// Turns what a handler returned into one result per input.
template <class Out, class R>
std::vector<caf::expected<Out>> to_results(R&& r) {
  using value = typename std::decay_t<R>::value_type;
  std::vector<caf::expected<Out>> out;
  out.reserve(r.size());
  for (auto& x : r) {
    if constexpr (is_expected<value>::value)
      out.emplace_back(std::move(x));
    else
      out.emplace_back(Out(std::move(x)));
  }
  return out;
}

/// Every input fails with the error `eptr` holds.
template <class Out>
std::vector<caf::expected<Out>> all_failed(size_t n, std::exception_ptr eptr) {
  auto err = error_of(std::move(eptr));
  return std::vector<caf::expected<Out>>(n, caf::expected<Out>{err});
}

} // namespace detail

} // namespace actorserve
