/// @file
/// Reading a stream from a thread that is not an actor (`main()`), chunk
/// by chunk with a timeout per chunk.
///
/// ```cpp
/// auto s = gen.call(std::string{"prompt"}).get(5s);   // a stream<std::string>
/// auto reader = read_stream(*s);
/// while (auto chunk = reader.next(1s)) {   // an error ends the loop
///   if (!*chunk)
///     break;                               // the end of the stream
///   std::cout << **chunk;
/// }
/// ```
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include <caf/expected.hpp>

#include "actorserve/stream.hpp"

namespace actorserve {

namespace detail {

/// Shared by a reader and the actor that receives its stream.
template <class T>
struct reader_state {
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<T> chunks;
  bool ended = false;
  caf::error err;
};

template <class T>
class queue_inbound final : public inbound {
public:
  explicit queue_inbound(std::shared_ptr<reader_state<T>> st)
      : st_(std::move(st)) {}

  uint32_t on_batch(caf::type_erased_tuple& msg) override {
    if (!msg.match_element<std::vector<T>>(2))
      return 0;
    auto& chunks = msg.get_mutable_as<std::vector<T>>(2);
    {
      std::lock_guard<std::mutex> guard{st_->mtx};
      for (auto& x : chunks)
        st_->chunks.push_back(std::move(x));
    }
    st_->cv.notify_all();
    return 0; // credit goes back as the reader takes chunks
  }

  void on_end(const caf::error& err) override {
    {
      std::lock_guard<std::mutex> guard{st_->mtx};
      st_->ended = true;
      st_->err = err;
    }
    st_->cv.notify_all();
  }

private:
  std::shared_ptr<reader_state<T>> st_;
};

/// Spawns the actor that reads `ref` into `entry`; `(stream_credit_atom,
/// uint32)` sent to it acknowledges chunks, an exit message cancels.
caf::actor spawn_stream_reader(const stream_ref& ref, uint32_t window,
                               std::unique_ptr<inbound> entry);

} // namespace detail

/// Reads one stream from outside the actors. Destroying it cancels the
/// stream if it has not ended.
template <class T>
class stream_reader {
public:
  stream_reader(std::shared_ptr<detail::reader_state<T>> st, caf::actor actor)
      : st_(std::move(st)), actor_(std::move(actor)) {}

  stream_reader(stream_reader&&) = default;
  stream_reader& operator=(stream_reader&&) = default;

  ~stream_reader() { cancel(); }

  /// The next chunk; an empty optional at the end of the stream; an error
  /// when the stream failed, or `deadline_exceeded` when no chunk came
  /// within `timeout`.
  caf::expected<std::optional<T>> next(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> guard{st_->mtx};
    if (!st_->cv.wait_for(guard, timeout,
                          [&] { return !st_->chunks.empty() || st_->ended; }))
      return make_error(errc::deadline_exceeded,
                        "no chunk within " + std::to_string(timeout.count()) +
                            " ms");
    if (!st_->chunks.empty()) {
      auto x = std::move(st_->chunks.front());
      st_->chunks.pop_front();
      guard.unlock();
      caf::anon_send(actor_, stream_credit_atom::value, uint32_t{1});
      return std::optional<T>{std::move(x)};
    }
    if (st_->err)
      return st_->err;
    return std::optional<T>{};
  }

  /// Stops the stream at its producer.
  void cancel() {
    if (actor_)
      caf::anon_send_exit(actor_, caf::exit_reason::user_shutdown);
    actor_ = nullptr;
  }

private:
  std::shared_ptr<detail::reader_state<T>> st_;
  caf::actor actor_;
};

/// Opens `s` for reading from `main()` or any thread that is not an actor.
template <class T>
stream_reader<T> read_stream(const stream<T>& s,
                             uint32_t window = detail::default_stream_window) {
  auto st = std::make_shared<detail::reader_state<T>>();
  auto actor = detail::spawn_stream_reader(
      s.ref(), window, std::make_unique<detail::queue_inbound<T>>(st));
  return stream_reader<T>{std::move(st), std::move(actor)};
}

} // namespace actorserve
