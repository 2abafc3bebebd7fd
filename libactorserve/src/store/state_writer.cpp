/// @file
/// The state store's writer: one thread, a queue that is one merged batch,
/// and a retry with backoff while the store fails.
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

#include "actorserve/error.hpp"
#include "ops/logging.hpp"
#include "runtime/thread_name.hpp"
#include "store/state_writer.hpp"

namespace actorserve::detail {

namespace {

using std::chrono::milliseconds;
using clock_type = std::chrono::steady_clock;

constexpr milliseconds first_backoff{100};
constexpr milliseconds max_backoff{5000};

int64_t now_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Applies `later` after `into`: a later put replaces an earlier one, a
/// later erase drops an earlier put.
void merge(store_batch& into, store_batch&& later) {
  for (auto& key : later.erases) {
    into.puts.erase(key);
    if (std::find(into.erases.begin(), into.erases.end(), key)
        == into.erases.end())
      into.erases.push_back(std::move(key));
  }
  for (auto& [key, value] : later.puts) {
    into.erases.erase(std::remove(into.erases.begin(), into.erases.end(), key),
                      into.erases.end());
    into.puts.insert_or_assign(key, std::move(value));
  }
}

class writer final : public state_writer {
public:
  writer(store_ptr store, std::map<std::string, std::string> initial)
      : store_(std::move(store)), mirror_(std::move(initial)) {
    health_.where = store_->where();
    thread_ = std::thread{[this] { run(); }};
  }

  ~writer() override { stop(milliseconds{0}); }

  uint64_t submit(store_batch batch) override {
    uint64_t seq;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      merge(pending_, std::move(batch));
      seq = pending_seq_ = ++health_.submitted;
    }
    wake_.notify_one();
    return seq;
  }

  bool wait_written(uint64_t seq, milliseconds timeout) override {
    std::unique_lock<std::mutex> guard{mtx_};
    written_cv_.wait_for(guard, timeout, [&] {
      return health_.written >= seq || finished_;
    });
    return health_.written >= seq;
  }

  void resync() override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      resync_ = true;
      pending_seq_ = ++health_.submitted; // wakes the thread
    }
    wake_.notify_one();
  }

  void report_unreachable(const std::string& why) override {
    std::lock_guard<std::mutex> guard{mtx_};
    record_failure(make_error(errc::unavailable, why));
  }

  health_info health() const override {
    std::lock_guard<std::mutex> guard{mtx_};
    return health_;
  }

  void stop(milliseconds timeout) override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!stopping_) {
        stopping_ = true;
        stop_by_ = clock_type::now() + timeout;
      }
    }
    wake_.notify_all();
    std::lock_guard<std::mutex> join_guard{join_mtx_};
    if (thread_.joinable())
      thread_.join();
  }

private:
  /// Whether the thread is done: stopping, and nothing waits or the time
  /// to write it is up.
  bool done(bool in_hand) const {
    return stopping_
           && ((!in_hand && pending_seq_ == health_.written)
               || clock_type::now() >= stop_by_);
  }

  void run() {
    name_this_thread("as-store");
    store_batch batch;
    uint64_t seq = 0;
    auto backoff = first_backoff;
    std::unique_lock<std::mutex> guard{mtx_};
    for (;;) {
      bool in_hand = seq > health_.written;
      if (!in_hand)
        wake_.wait(guard, [&] { return stopping_ || pending_seq_ > health_.written; });
      if (done(in_hand))
        break;
      // What waits joins the batch in hand (a retry writes both at once).
      if (pending_seq_ > seq) {
        merge(batch, std::move(pending_));
        pending_ = store_batch{};
        seq = pending_seq_;
      }
      // After failures (here or seen by another connection), or when
      // asked: the store may have lost data while away.
      auto resync = std::exchange(resync_, false) || failures_in_row_ > 0;
      guard.unlock();
      auto err = batch.empty() ? caf::error{} : store_->commit(batch);
      if (!err && resync)
        err = catch_up(batch); // the store may have lost data while away
      guard.lock();
      if (!err) {
        apply(batch);
        record_success(seq);
        batch = store_batch{};
        backoff = first_backoff;
        continue;
      }
      record_failure(err);
      resync_ = resync_ || resync;
      pause(guard, clock_type::now() + backoff);
      backoff = std::min(backoff * 2, max_backoff);
    }
    finished_ = true;
    guard.unlock();
    written_cv_.notify_all();
  }

  /// What the store should hold after `batch`.
  void apply(const store_batch& batch) {
    for (auto& key : batch.erases)
      mirror_.erase(key);
    for (auto& [key, value] : batch.puts)
      mirror_.insert_or_assign(key, value);
  }

  /// After failed writes: reads the store and writes what differs from
  /// what it should hold (with `batch` applied). Runs on the writer's
  /// thread without the lock (`mirror_` is the thread's own).
  caf::error catch_up(const store_batch& batch) {
    auto want = mirror_;
    for (auto& key : batch.erases)
      want.erase(key);
    for (auto& [key, value] : batch.puts)
      want.insert_or_assign(key, value);
    auto have = store_->load();
    if (!have)
      return std::move(have.error());
    store_batch diff;
    for (auto& [key, value] : want) {
      auto i = have->find(key);
      if (i == have->end() || i->second != value)
        diff.puts.emplace(key, value);
    }
    for (auto& [key, value] : *have)
      if (want.count(key) == 0)
        diff.erases.push_back(key);
    if (diff.empty())
      return {};
    log_line{log_level::info}
        << "state store " << health_where_ << " is back; writing "
        << diff.puts.size() + diff.erases.size() << " key(s) it lacks";
    return store_->commit(diff);
  }

  /// Waits until `until`, or less when a stop's time to write is up first.
  void pause(std::unique_lock<std::mutex>& guard, clock_type::time_point until) {
    for (;;) {
      auto end = stopping_ ? std::min(until, stop_by_) : until;
      if (clock_type::now() >= end)
        return;
      wake_.wait_until(guard, end);
    }
  }

  /// Called with the lock held.
  void record_success(uint64_t seq) {
    if (!health_.ok)
      log_line{log_level::info}
          << "state store " << health_.where << " recovered after "
          << failures_in_row_ << " failed writes";
    health_.ok = true;
    health_.error.clear();
    health_.failing_since_ms = 0;
    health_.written = seq;
    failures_in_row_ = 0;
    written_cv_.notify_all();
  }

  /// Called with the lock held.
  void record_failure(const caf::error& err) {
    ++health_.failures;
    ++failures_in_row_;
    health_.error = message_of(err);
    if (health_.ok) {
      health_.ok = false;
      health_.failing_since_ms = now_ms();
      log_line{log_level::warning}
          << "state store " << health_.where
          << " is failing, retrying with backoff: " << health_.error;
    }
  }

  store_ptr store_;
  /// What the store should hold (the writer thread's own).
  std::map<std::string, std::string> mirror_;
  std::string health_where_ = store_->where();
  mutable std::mutex mtx_;
  std::condition_variable wake_;
  std::condition_variable written_cv_;
  /// The batches submitted and not yet taken, merged, and the sequence
  /// number of the last of them.
  store_batch pending_;
  uint64_t pending_seq_ = 0;
  health_info health_;
  uint64_t failures_in_row_ = 0;
  bool stopping_ = false;
  bool resync_ = false;
  bool finished_ = false;
  clock_type::time_point stop_by_;
  std::mutex join_mtx_;
  std::thread thread_;
};

} // namespace

writer_ptr start_state_writer(store_ptr store,
                              std::map<std::string, std::string> initial) {
  return std::make_shared<writer>(std::move(store), std::move(initial));
}

} // namespace actorserve::detail
