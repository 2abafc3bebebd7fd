// The head's state store on Redis, against a real redis-server started on
// a free loopback port (tools/setup installs it): round trips, MULTI/EXEC
// batches, the leader's lease between two owners, AUTH, and the writer
// riding out a Redis that goes away and comes back.
#include <chrono>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "actorserve/error.hpp"
#include "child.hpp"
#include "http_client.hpp"
#include "redis_server.hpp"
#include "store/state_store.hpp"
#include "store/state_writer.hpp"

using namespace actorserve;
using namespace actorserve::detail;
using namespace std::chrono_literals;

namespace {


std::string url_of(uint16_t port, const std::string& prefix = "t") {
  return "redis://127.0.0.1:" + std::to_string(port) + "/" + prefix;
}

store_ptr open_redis(uint16_t port, const std::string& prefix = "t",
                     const std::string& password = "") {
  auto store = open_state_store("", url_of(port, prefix), password, 500ms);
  INFO((store ? std::string{} : message_of(store.error())));
  REQUIRE(store);
  return *store;
}

/// Waits up to `limit` for `pred`, asking again as soon as it answers.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end)
      return false;
    std::this_thread::yield();
  }
  return true;
}

const std::string binary_value{"x\0y\xff\r\n", 6};

} // namespace

TEST_CASE("the Redis store keeps binary values and applies a batch whole") {
  auto port = test::free_port();
  test::redis_server redis{port};
  auto store = open_redis(port);
  CHECK(store->where() == url_of(port));
  CHECK(store->load().value().empty());
  store_batch first;
  first.puts = {{"a", "1"}, {"b", binary_value}, {"c", "3"}, {"e", ""}};
  REQUIRE(!store->commit(first));
  store_batch second;
  second.puts = {{"b", "20"}, {"d", "4"}};
  second.erases = {"a", "c", "never-there"};
  REQUIRE(!store->commit(second));
  // Another connection (and another prefix) sees what was committed.
  auto again = open_redis(port);
  CHECK(again->load().value()
        == std::map<std::string, std::string>{{"b", "20"}, {"d", "4"}, {"e", ""}});
  CHECK(open_redis(port, "other")->load().value().empty());
  store_batch third;
  third.puts = {{"k", binary_value}};
  REQUIRE(!again->commit(third));
  CHECK(store->load().value().at("k") == binary_value);
}

TEST_CASE("the Redis store's leader lease goes to one owner at a time") {
  auto port = test::free_port();
  test::redis_server redis{port};
  auto a = open_redis(port);
  auto b = open_redis(port);
  CHECK(a->hold_lease("head-a", 10s).value());
  CHECK(!b->hold_lease("head-b", 10s).value());
  CHECK(a->hold_lease("head-a", 10s).value()); // renewed
  b->release_lease("head-b");                  // not b's: nothing happens
  CHECK(!b->hold_lease("head-b", 10s).value());
  a->release_lease("head-a");
  CHECK(b->hold_lease("head-b", 300ms).value());
  CHECK(!a->hold_lease("head-a", 300ms).value());
  // b stops renewing: its lease lapses and a takes it.
  CHECK(eventually([&] { return a->hold_lease("head-a", 10s).value(); }, 3s));
  CHECK(!b->hold_lease("head-b", 10s).value());
  // The leader's address, for workers looking for it.
  CHECK(b->leader_address().value().empty());
  REQUIRE(!a->publish_leader("127.0.0.1:4242"));
  CHECK(b->leader_address().value() == "127.0.0.1:4242");
  CHECK(b->load().value().empty());
}

TEST_CASE("the Redis store authenticates with the password") {
  auto port = test::free_port();
  test::redis_server redis{port, "s3cret"};
  auto wrong = open_state_store("", url_of(port), "wrong", 500ms);
  REQUIRE(!wrong);
  CHECK(code_of(wrong.error()) == errc::unauthenticated);
  auto none = open_redis(port); // connects, but may not read or write
  auto refused = none->load();
  REQUIRE(!refused);
  CHECK(code_of(refused.error()) == errc::unauthenticated);
  auto store = open_redis(port, "t", "s3cret");
  store_batch b;
  b.puts["k"] = "v";
  REQUIRE(!store->commit(b));
  CHECK(store->load().value().at("k") == "v");
}

TEST_CASE("opening the Redis store fails fast when Redis is not there") {
  auto port = test::free_port();
  auto start = std::chrono::steady_clock::now();
  auto store = open_state_store("", url_of(port), "", 500ms);
  REQUIRE(!store);
  CHECK(code_of(store.error()) == errc::unavailable);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("the writer queues while Redis is away and catches up when it "
          "returns") {
  auto port = test::free_port();
  auto redis = std::make_unique<test::redis_server>(port);
  auto store = open_redis(port);
  auto writer = start_state_writer(store);
  store_batch first;
  first.puts = {{"a", "1"}, {"b", "2"}};
  REQUIRE(writer->wait_written(writer->submit(std::move(first)), 5s));
  redis.reset(); // killed
  store_batch second;
  second.puts = {{"c", "3"}, {"a", "10"}};
  auto seq = writer->submit(std::move(second));
  REQUIRE(eventually([&] { return !writer->health().ok; }, 5s));
  auto h = writer->health();
  CHECK(!h.error.empty());
  CHECK(h.failing_since_ms > 0);
  CHECK(h.failures >= 1);
  CHECK(h.written == 1);
  // More changes wait behind the failing one, and merge with it.
  store_batch third;
  third.erases = {"b", "c"};
  writer->submit(std::move(third));
  store_batch fourth;
  fourth.puts = {{"c", "30"}, {"d", "4"}};
  auto last = writer->submit(std::move(fourth));
  CHECK(!writer->wait_written(seq, 300ms));
  redis = std::make_unique<test::redis_server>(port);
  REQUIRE(writer->wait_written(last, 15s));
  h = writer->health();
  CHECK(h.ok);
  CHECK(h.error.empty());
  CHECK(h.failing_since_ms == 0);
  CHECK(h.written == 4);
  CHECK(h.submitted == 4);
  // The restarted Redis had nothing: what it holds now is the merged
  // change, the state the second to fourth batches produced over the first.
  CHECK(store->load().value()
        == std::map<std::string, std::string>{{"a", "10"}, {"c", "30"}, {"d", "4"}});
  writer->stop(1s);
}
