// The demo's POST /stream over real sockets: Server-Sent Events in order,
// errors as events, disconnects that stop the producer, many streams at
// once, and no ongoing count left behind.
#include <atomic>
#include <random>
#include <thread>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"
#include "sse_client.hpp"

using namespace std::chrono;
using json = nlohmann::json;
using test::stream_body;

namespace {

json stats(test::demo_server& s) {
  return test::body_of(s.get("/stream/stats"));
}

using words_actor = caf::typed_actor<
    caf::replies_to<int32_t>::with<actorserve::stream<std::string>>>;

// Streams "word 1\n" ... "word n\n".
words_actor::behavior_type words(words_actor::pointer self) {
  return {[=](int32_t n) {
    return actorserve::make_stream<std::string>(
        self, [n, i = 0](actorserve::stream_out<std::string>& out) mutable {
          if (i == n)
            return out.close();
          out.push("word " + std::to_string(++i) + "\n");
        });
  }};
}

// GET /?n=N answers the words as a chunked plain-text response.
actorserve::http_ingress::behavior_type
plain_streamer(actorserve::http_ingress::pointer self,
               actorserve::handle<words_actor> w) {
  actorserve::http_routes routes;
  routes.get("/", [=](actorserve::http_request& req) -> actorserve::reply {
    auto rp = self->make_response_promise<actorserve::http_response>();
    w.call(self, std::stoi(req.query_param("n", "3")))
        .then([=](actorserve::stream<std::string>& s) mutable {
          rp.deliver(actorserve::chunked_response(s));
        });
    return rp;
  });
  return {routes.handler()};
}

} // namespace

TEST_CASE("a chunked response streams one HTTP chunk per stream chunk",
          "[sse]") {
  actorserve::serve srv{test::demo_options()};
  auto w = srv.deployment("Words", words).bind();
  REQUIRE(srv.run(srv.deployment("Plain", plain_streamer).bind(w),
                  {"plain", "/plain"}));
  test::sse_client c{srv.http_port(), "GET", "/plain?n=50", ""};
  REQUIRE(c.status() == 200);
  CHECK(c.header("transfer-encoding") == "chunked");
  CHECK(c.header("content-type") == "text/plain; charset=utf-8");
  std::vector<std::string> lines;
  while (auto l = c.line(seconds(10)))
    lines.push_back(*l);
  REQUIRE(lines.size() == 50);
  for (size_t i = 0; i < lines.size(); ++i)
    CHECK(lines[i] == "word " + std::to_string(i + 1));
  CHECK(c.complete());
}

TEST_CASE("an SSE stream arrives in order and complete, its first chunk "
          "long before its end",
          "[sse]") {
  test::demo_server s;
  auto start = steady_clock::now();
  test::sse_client c{s.port, "/stream", stream_body(20, 10)};
  REQUIRE(c.status() == 200);
  CHECK(c.header("content-type") == "text/event-stream");
  std::vector<test::sse_event> events;
  auto first_at = steady_clock::duration{0};
  while (auto ev = c.next(seconds(10))) {
    if (events.empty())
      first_at = steady_clock::now() - start;
    events.push_back(*ev);
    if (ev->event != "message")
      break;
  }
  auto total = steady_clock::now() - start;
  REQUIRE(events.size() == 21);
  const char* words[] = {"the", "quick", "brown", "fox"};
  for (int i = 0; i < 20; ++i) {
    auto& ev = events[static_cast<size_t>(i)];
    CHECK(ev.event == "message");
    auto body = json::parse(ev.data);
    CHECK(body["index"] == i);
    CHECK(body["token"] == words[i % 4]);
  }
  CHECK(events.back().event == "done");
  CHECK_FALSE(c.next(seconds(10))); // the body ends cleanly
  CHECK(c.complete());
  // Nineteen pauses of 10 ms lie between the first chunk and the last.
  CHECK(total >= milliseconds(190));
  CHECK(first_at < total / 2);
}

TEST_CASE("an error mid-stream ends the SSE stream with an error event",
          "[sse]") {
  test::demo_server s;
  test::sse_client c{s.port, "/stream", stream_body(10, 0, 3)};
  REQUIRE(c.status() == 200);
  std::vector<test::sse_event> events;
  while (auto ev = c.next(seconds(10)))
    events.push_back(*ev);
  REQUIRE(events.size() == 4);
  CHECK(events[2].event == "message");
  CHECK(events[3].event == "error");
  auto body = json::parse(events[3].data);
  CHECK(body["code"] == "user_error");
  CHECK(body["error"] == "the generator failed at chunk 3");
  CHECK(c.complete());
  CHECK(test::replicas_idle(s.serve, "stream"));
}

TEST_CASE("a client that disconnects mid-stream stops the producer and "
          "leaves no ongoing count",
          "[sse]") {
  test::demo_server s;
  test::sse_client c{s.port, "/stream", stream_body(100'000, 10)};
  REQUIRE(c.status() == 200);
  for (int i = 0; i < 3; ++i)
    REQUIRE(c.next(seconds(10)));
  auto before = stats(s);
  CHECK(before["cancelled"] == 0);
  c.close();
  // The producer hears within a chunk interval; the count returns to 0.
  CHECK(test::replicas_idle(s.serve, "stream"));
  auto after = stats(s);
  CHECK(after["cancelled"] == 1);
  CHECK(after["finished"] == 0);
  // It stopped: no more chunks than it had made when it heard.
  auto produced = after["chunks_produced"].get<int64_t>();
  CHECK(produced < 3 + 16 + 5);
  CHECK(stats(s)["chunks_produced"] == produced);
}

TEST_CASE("500 concurrent SSE streams complete", "[sse][load]") {
  test::demo_server s;
  std::vector<std::unique_ptr<test::sse_client>> clients;
  for (int i = 0; i < 500; ++i)
    clients.push_back(std::make_unique<test::sse_client>(s.port, "/stream",
                                                         stream_body(5, 2)));
  int complete = 0;
  for (auto& c : clients) {
    REQUIRE(c->status() == 200);
    int messages = 0;
    bool done = false;
    while (auto ev = c->next(seconds(30))) {
      if (ev->event == "message")
        ++messages;
      done = ev->event == "done";
    }
    complete += messages == 5 && done && c->complete() ? 1 : 0;
  }
  CHECK(complete == 500);
  CHECK(test::replicas_idle(s.serve, "stream"));
  auto st = stats(s);
  CHECK(st["started"] == 500);
  CHECK(st["finished"] == 500);
}

TEST_CASE("10,000 requests whose clients disconnect at random points leak "
          "no ongoing count",
          "[sse][load]") {
  test::demo_server s;
  constexpr int threads = 4;
  constexpr int per_thread = 2500;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      std::mt19937 rng{static_cast<uint32_t>(t + 1)};
      for (int i = 0; i < per_thread; ++i) {
        // Leave before the head, after some chunks, or at the end.
        auto leave_after = std::uniform_int_distribution<int>{-1, 8}(rng);
        test::sse_client c{s.port, "/stream", stream_body(6, 1)};
        for (int k = 0; k < leave_after; ++k)
          if (!c.next(seconds(10)))
            break;
        c.close();
      }
    });
  for (auto& w : workers)
    w.join();
  CHECK(test::replicas_idle(s.serve, "stream"));
  auto st = stats(s);
  // Every stream that started ended one way or the other.
  CHECK(st["started"].get<int64_t>() ==
        st["finished"].get<int64_t>() + st["cancelled"].get<int64_t>());
}

TEST_CASE("a stream whose next chunk is late ends with a deadline_exceeded "
          "event, and its producer stops",
          "[sse]") {
  auto opts = test::demo_options();
  opts.http.stream_idle_timeout = milliseconds(100);
  actorserve::serve srv{opts};
  REQUIRE_FALSE(demo::run_streaming(srv));
  // One event at once, then a pause of a minute.
  test::sse_client c{srv.http_port(), "/stream", stream_body(5, 60'000)};
  REQUIRE(c.status() == 200);
  auto first = c.next(seconds(10));
  REQUIRE(first);
  CHECK(first->event == "message");
  auto second = c.next(seconds(10));
  REQUIRE(second);
  CHECK(second->event == "error");
  CHECK(json::parse(second->data)["code"] == "deadline_exceeded");
  CHECK(c.complete());
  CHECK(test::replicas_idle(srv, "stream"));
}
