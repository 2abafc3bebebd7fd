// The head's state store on its embedded backend (SQLite in a temporary
// directory), the Redis URL's parser, and the writer over SQLite. Redis
// itself is tested against a real server in
// process/redis_store_process.test.cpp.
#include <chrono>
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>
#include <sys/stat.h>

#include "temp_dir.hpp"

#include "actorserve/error.hpp"
#include "store/state_store.hpp"
#include "store/state_writer.hpp"

using namespace actorserve;
using namespace actorserve::detail;
using namespace std::chrono_literals;

namespace {

using test::temp_dir;

store_ptr open_sqlite(const std::string& dir) {
  auto store = open_state_store(dir, "", "", 1000ms);
  REQUIRE(store);
  return *store;
}

const std::string binary_value{"a\0b\xff\x01", 5};

} // namespace

TEST_CASE("the SQLite store creates its directory for its owner only and "
          "keeps binary values across a reopen") {
  temp_dir tmp;
  auto dir = tmp.path + "/nested/state";
  {
    auto store = open_sqlite(dir);
    CHECK(store->where() == "sqlite:" + dir + "/state.db");
    store_batch batch;
    batch.puts["app/one"] = binary_value;
    batch.puts["empty"] = "";
    REQUIRE(!store->commit(batch));
    // WAL mode: the log sits beside the database while it is open.
    CHECK(std::filesystem::exists(dir + "/state.db-wal"));
  }
  struct stat st{};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  auto store = open_sqlite(dir);
  auto all = store->load();
  REQUIRE(all);
  CHECK(all->size() == 2);
  CHECK(all->at("app/one") == binary_value);
  CHECK(all->at("empty").empty());
}

TEST_CASE("a SQLite batch of puts and erases is applied whole") {
  temp_dir tmp;
  {
    auto store = open_sqlite(tmp.path);
    store_batch first;
    first.puts = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
    REQUIRE(!store->commit(first));
    store_batch second;
    second.puts = {{"b", "20"}, {"d", "4"}};
    second.erases = {"a", "c", "never-there"};
    REQUIRE(!store->commit(second));
    // A key both put and erased in one batch is erased.
    store_batch third;
    third.puts = {{"e", "5"}};
    third.erases = {"e"};
    REQUIRE(!store->commit(third));
  }
  auto all = open_sqlite(tmp.path)->load();
  REQUIRE(all);
  CHECK(*all == std::map<std::string, std::string>{{"b", "20"}, {"d", "4"}});
}

TEST_CASE("the SQLite store keeps the leader's address apart from the state "
          "and always grants the lease") {
  temp_dir tmp;
  auto store = open_sqlite(tmp.path);
  auto none = store->leader_address();
  REQUIRE(none);
  CHECK(none->empty());
  REQUIRE(!store->publish_leader("10.0.0.1:7000"));
  REQUIRE(!store->publish_leader("10.0.0.2:7000"));
  CHECK(store->leader_address().value() == "10.0.0.2:7000");
  CHECK(store->load().value().empty());
  CHECK(store->hold_lease("me", 100ms).value());
  CHECK(store->hold_lease("another", 100ms).value());
  store->release_lease("me");
}

TEST_CASE("a directory that cannot be made is a configuration error naming "
          "--state-dir") {
  temp_dir tmp;
  auto file = tmp.path + "/a-file";
  REQUIRE(!open_sqlite(tmp.path)->commit({})); // an empty batch is fine
  { std::FILE* f = std::fopen(file.c_str(), "w"); REQUIRE(f); std::fclose(f); }
  auto store = open_state_store(file + "/below", "", "", 1000ms);
  REQUIRE(!store);
  CHECK(code_of(store.error()) == errc::invalid_config);
  CHECK(message_of(store.error()).find("--state-dir") != std::string::npos);
}

TEST_CASE("the store's options are checked: one backend, a strict URL") {
  auto both = open_state_store("/tmp/x", "redis://127.0.0.1:6379/p", "", 1000ms);
  REQUIRE(!both);
  CHECK(code_of(both.error()) == errc::invalid_config);
  auto neither = open_state_store("", "", "", 1000ms);
  REQUIRE(!neither);
  CHECK(code_of(neither.error()) == errc::invalid_config);
  auto ok = parse_redis_url("redis://redis.internal:6380/serve:prod-1");
  REQUIRE(ok);
  CHECK(ok->host == "redis.internal");
  CHECK(ok->port == 6380);
  CHECK(ok->prefix == "serve:prod-1");
  for (auto bad : {"", "http://h:1/p", "redis://h:1", "redis://h:1/",
                   "redis://:1/p", "redis://h/p", "redis://h:0/p",
                   "redis://h:65536/p", "redis://h:12a/p", "redis://h:/p",
                   "redis://h:1/p q", "redis://h:1/a/b", "redis://u@h:1/p"}) {
    INFO(bad);
    auto r = parse_redis_url(bad);
    REQUIRE(!r);
    CHECK(code_of(r.error()) == errc::invalid_config);
    CHECK(message_of(r.error()).find("--state-store") != std::string::npos);
  }
  auto via_open = open_state_store("", "redis://h:1/", "", 1000ms);
  REQUIRE(!via_open);
  CHECK(code_of(via_open.error()) == errc::invalid_config);
}

TEST_CASE("the writer applies batches in order and the store ends in the "
          "state they produce") {
  temp_dir tmp;
  auto store = open_sqlite(tmp.path);
  auto writer = start_state_writer(store);
  std::map<std::string, std::string> expected;
  uint64_t last = 0;
  for (int i = 0; i < 200; ++i) {
    store_batch b;
    auto key = "k" + std::to_string(i % 17);
    if (i % 5 == 4) {
      b.erases.push_back(key);
      expected.erase(key);
    } else {
      b.puts[key] = std::to_string(i);
      expected[key] = std::to_string(i);
    }
    auto seq = writer->submit(std::move(b));
    CHECK(seq == last + 1);
    last = seq;
  }
  REQUIRE(writer->wait_written(last, 10s));
  auto h = writer->health();
  CHECK(h.ok);
  CHECK(h.submitted == 200);
  CHECK(h.written == 200);
  CHECK(h.failures == 0);
  CHECK(h.where == store->where());
  writer->stop(1s);
  CHECK(store->load().value() == expected);
  // A stopped writer waits no more.
  CHECK(!writer->wait_written(last + 1, 10s));
}

TEST_CASE("a writer's stop writes what waits") {
  temp_dir tmp;
  auto store = open_sqlite(tmp.path);
  auto writer = start_state_writer(store);
  for (int i = 0; i < 50; ++i) {
    store_batch b;
    b.puts["k" + std::to_string(i)] = "v";
    writer->submit(std::move(b));
  }
  writer->stop(5s);
  CHECK(writer->health().written == 50);
  CHECK(store->load().value().size() == 50);
}
