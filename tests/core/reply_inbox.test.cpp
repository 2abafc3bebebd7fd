// The HTTP ingress's reply inbox (reply_inbox.hpp): answers pushed from any
// thread reach the I/O thread once each, in the order pushed, and a push
// wakes the I/O thread exactly when it sleeps.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <caf/make_message.hpp>
#include <caf/mailbox_element.hpp>

#include "ingress/reply_inbox.hpp"

using actorserve::detail::reply_inbox;

namespace {

caf::mailbox_element_ptr element(int producer, int seq) {
  return caf::make_mailbox_element(nullptr, caf::make_message_id(), {},
                                   caf::make_message(producer, seq));
}

/// Drains `inbox` into (producer, seq) pairs.
std::vector<std::pair<int, int>> drain(reply_inbox& inbox) {
  std::vector<std::pair<int, int>> out;
  inbox.drain([&](caf::mailbox_element& x) {
    auto& msg = x.content();
    out.emplace_back(msg.get_as<int>(0), msg.get_as<int>(1));
  });
  return out;
}

} // namespace

TEST_CASE("the inbox hands out its messages oldest first", "[reply_inbox]") {
  reply_inbox inbox;
  CHECK(drain(inbox).empty());
  for (int i = 0; i < 5; ++i)
    CHECK_FALSE(inbox.push(element(0, i))); // The I/O thread is awake.
  CHECK(inbox.has_mail());
  auto got = drain(inbox);
  REQUIRE(got.size() == 5);
  for (int i = 0; i < 5; ++i)
    CHECK(got[i].second == i);
  CHECK_FALSE(inbox.has_mail());
  CHECK(drain(inbox).empty());
}

TEST_CASE("only the first push after the I/O thread blocked wakes it",
          "[reply_inbox]") {
  reply_inbox inbox;
  REQUIRE(inbox.try_block());
  CHECK_FALSE(inbox.has_mail());
  CHECK(inbox.push(element(0, 1)));       // Wake it.
  CHECK_FALSE(inbox.push(element(0, 2))); // Its wake-up is already on the way.
  CHECK_FALSE(inbox.try_block());         // Mail waits: drain, do not sleep.
  CHECK_FALSE(inbox.unblock());           // The push took the mark.
  auto got = drain(inbox);
  REQUIRE(got.size() == 2);
  CHECK(got[0].second == 1);
  CHECK(got[1].second == 2);
  // Drained, the thread counts as awake: no push wakes it until it blocks.
  CHECK_FALSE(inbox.push(element(0, 3)));
  CHECK(drain(inbox).size() == 1);
  // A thread that blocked and woke for another reason is awake again.
  REQUIRE(inbox.try_block());
  CHECK(inbox.unblock());
  CHECK_FALSE(inbox.push(element(0, 4)));
  CHECK(drain(inbox).size() == 1);
}

TEST_CASE("an inbox frees what it never handed out", "[reply_inbox]") {
  // Leak checks (ASan's) fail this test if the destructor leaks.
  reply_inbox inbox;
  inbox.push(element(0, 1));
  REQUIRE(inbox.try_block() == false);
  inbox.push(element(0, 2));
  CHECK(inbox.has_mail());
}

TEST_CASE("many producers lose no message and no wake-up", "[reply_inbox]") {
  constexpr int producers = 4;
  constexpr int per_producer = 20000;
  reply_inbox inbox;
  std::mutex mtx;
  std::condition_variable cv;
  int wakes = 0; // guarded by mtx
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p)
    threads.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i)
        if (inbox.push(element(p, i))) {
          std::lock_guard<std::mutex> guard{mtx};
          ++wakes;
          cv.notify_one();
        }
    });
  // The I/O thread's loop (shard.cpp): drain, and sleep only after
  // `try_block` succeeded, until a push says to wake.
  std::vector<int> next(producers, 0);
  int total = 0;
  bool in_order = true;
  bool lost_wake = false;
  while (total < producers * per_producer && !lost_wake) {
    auto got = drain(inbox);
    for (auto [p, i] : got) {
      in_order = in_order && i == next[p];
      next[p] = i + 1;
    }
    total += static_cast<int>(got.size());
    if (!got.empty() || !inbox.try_block())
      continue;
    std::unique_lock<std::mutex> guard{mtx};
    lost_wake = !cv.wait_for(guard, std::chrono::seconds(30),
                             [&] { return wakes > 0; });
    wakes = 0;
    guard.unlock();
    inbox.unblock();
  }
  for (auto& t : threads)
    t.join();
  CHECK_FALSE(lost_wake);
  CHECK(in_order);
  CHECK(total == producers * per_producer);
  CHECK(drain(inbox).empty());
}
