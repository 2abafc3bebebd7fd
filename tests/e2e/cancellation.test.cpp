// Cancellation and deadlines for unary requests, over real sockets: a
// client that goes away cancels its request down the whole chain, a queued
// call that is cancelled never runs, and a call past its deadline is not
// run. Every wait waits for an event (a condition with a bound).
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"

using namespace std::chrono;
using namespace actorserve;

namespace {

/// What the deployments saw, shared with the test thread.
struct board {
  std::mutex mtx;
  std::condition_variable cv;
  std::multiset<std::string> started;   // texts the holder's handler ran for
  std::multiset<std::string> cancelled; // texts whose cancel hook ran
  int front_started = 0;
  std::vector<errc> late_results; // what the late caller's calls got

  template <class Pred>
  bool wait(Pred pred, milliseconds limit = seconds(10)) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, limit, [&] { return pred(*this); });
  }

  template <class F>
  void update(F f) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      f(*this);
    }
    cv.notify_all();
  }
};

using board_ptr = std::shared_ptr<board>;

using holder_actor =
    caf::typed_actor<caf::replies_to<std::string>::with<std::string>>;

// Holds every call until it is cancelled; "now" answers at once.
holder_actor::behavior_type holder(holder_actor::pointer self, board_ptr b) {
  return {[=](const std::string& text) -> caf::result<std::string> {
    if (text == "now")
      return text;
    auto rp = self->make_response_promise<std::string>();
    on_cancel(self, [=]() mutable {
      // Recorded only if the handler's view agrees: the request is
      // cancelled (no Catch assertion off the test's thread).
      if (is_cancelled(self))
        b->update([&](board& x) { x.cancelled.insert(text); });
      rp.deliver(std::string{"stopped"});
    });
    b->update([&](board& x) { x.started.insert(text); });
    return rp;
  }};
}

// POST /wait with the text as body: asks the holder and answers with its
// answer. POST /late: works past the deadline first, then asks.
http_ingress::behavior_type front(http_ingress::pointer self,
                                  handle<holder_actor> h, board_ptr b) {
  http_routes routes;
  routes.post("/wait", [=](http_request& req) -> reply {
    b->update([](board& x) { ++x.front_started; });
    auto rp = self->make_response_promise<http_response>();
    h.call(self, req.body).then([=](std::string& answer) mutable {
      http_response r;
      r.content_type = "text/plain";
      r.body = answer;
      rp.deliver(std::move(r));
    });
    return rp;
  });
  // POST /timed: asks the holder with a 200 ms timeout of the call's own;
  // answers the error's name when it fails.
  routes.post("/timed", [=](http_request& req) -> reply {
    auto rp = self->make_response_promise<http_response>();
    h.options({milliseconds(200), {}, {}})
        .call(self, req.body)
        .then(
            [=](std::string& answer) mutable {
              http_response r;
              r.body = answer;
              rp.deliver(std::move(r));
            },
            [=](caf::error& err) mutable {
              http_response r;
              r.body = to_string(code_of(err));
              rp.deliver(std::move(r));
            });
    return rp;
  });
  return {routes.handler()};
}

using late_actor = caf::typed_actor<caf::replies_to<int32_t>::with<int32_t>>;

// Works past its caller's deadline, then asks the
// holder, and records what that call got.
late_actor::behavior_type late(late_actor::pointer self, handle<holder_actor> h,
                               board_ptr b) {
  return {[=](int32_t) -> caf::result<int32_t> {
    // Work until the request's own deadline has passed (the event this
    // test is about), then call on.
    auto deadline = request_context_of(self).deadline;
    while (caf::make_timestamp() <= deadline)
      std::this_thread::yield();
    auto rp = self->make_response_promise<int32_t>();
    h.call(self, "late")
        .then(
            [=](std::string&) mutable {
              b->update([](board& x) { x.late_results.push_back(errc::none); });
              rp.deliver(int32_t{0});
            },
            [=](caf::error& err) mutable {
              b->update(
                  [&](board& x) { x.late_results.push_back(code_of(err)); });
              rp.deliver(err);
            });
    return rp;
  }};
}

serve_options http_on_free_port(milliseconds request_timeout = seconds(0)) {
  serve_options opts;
  opts.admin.port = 0; // a free port: tests run side by side
  opts.http.port = 0;
  opts.http.threads = 1;
  opts.http.request_timeout = request_timeout;
  return opts;
}

/// Opens a connection and sends a request without reading the answer.
std::unique_ptr<test::http_connection>
send_and_leave_open(uint16_t port, const std::string& path,
                    const std::string& body) {
  auto conn = std::make_unique<test::http_connection>(port);
  REQUIRE(conn->connected());
  REQUIRE(conn->send("POST " + path +
                     " HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                     "Content-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body));
  return conn;
}

} // namespace

TEST_CASE("a client that disconnects cancels its request down the chain",
          "[cancel]") {
  auto mode = GENERATE(execution::isolated, execution::inline_);
  CAPTURE(static_cast<int>(mode));
  auto b = std::make_shared<board>();
  serve s{http_on_free_port()};
  auto hold = s.deployment("Holder", holder).mode(mode).bind(b);
  REQUIRE(s.run(s.deployment("Front", front).mode(mode).bind(hold, b),
                {"app", "/"}));
  auto fd = send_and_leave_open(s.http_port(), "/wait", "first");
  REQUIRE(b->wait([](board& x) { return x.started.count("first") == 1; }));
  fd->close();
  // The ingress cancels the front's request; the front's call to the
  // holder is cancelled with it, and the holder's hook runs.
  REQUIRE(b->wait([](board& x) { return x.cancelled.count("first") == 1; }));
  CHECK(test::replicas_idle(s));
  // The replicas still serve.
  auto r = test::http(s.http_port(), "POST", "/wait", "now");
  CHECK(r.status == 200);
  CHECK(r.body == "now");
}

TEST_CASE("a cancelled call that is still queued never runs", "[cancel]") {
  auto b = std::make_shared<board>();
  serve s{http_on_free_port()};
  // One slot at the holder: the second call waits in the front's queue.
  auto hold = s.deployment("Holder", holder).max_ongoing_requests(1).bind(b);
  REQUIRE(s.run(s.deployment("Front", front).bind(hold, b), {"app", "/"}));
  auto first = send_and_leave_open(s.http_port(), "/wait", "first");
  REQUIRE(b->wait([](board& x) { return x.started.count("first") == 1; }));
  auto second = send_and_leave_open(s.http_port(), "/wait", "second");
  REQUIRE(b->wait([](board& x) { return x.front_started == 2; }));
  second->close();
  first->close();
  REQUIRE(b->wait([](board& x) { return x.cancelled.count("first") == 1; }));
  // Had "second" been sent on when "first" ended, it would hold the
  // holder's slot now, and the count would never return to 0.
  CHECK(test::replicas_idle(s));
  std::lock_guard<std::mutex> guard{b->mtx};
  CHECK(b->started.count("second") == 0);
}

TEST_CASE("a request that times out at the ingress is cancelled downstream",
          "[cancel][deadline]") {
  auto b = std::make_shared<board>();
  serve s{http_on_free_port(milliseconds(200))};
  auto hold = s.deployment("Holder", holder).bind(b);
  REQUIRE(s.run(s.deployment("Front", front).bind(hold, b), {"app", "/"}));
  auto r = test::http(s.http_port(), "POST", "/wait", "slow");
  CHECK(r.status == 408);
  REQUIRE(b->wait([](board& x) { return x.cancelled.count("slow") == 1; }));
  CHECK(test::replicas_idle(s));
}

TEST_CASE("a call whose deadline has passed is not run downstream",
          "[deadline]") {
  auto b = std::make_shared<board>();
  serve s{http_on_free_port()};
  auto hold = s.deployment("Holder", holder).bind(b);
  auto h = s.run(s.deployment("Late", late).bind(hold, b), {"late", ""});
  REQUIRE(h);
  // A 50 ms deadline; the late replica works past it before it calls on.
  auto r =
      h->options({milliseconds(50), {}, {}}).call(int32_t{0}).get(seconds(5));
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == errc::deadline_exceeded);
  REQUIRE(b->wait([](board& x) { return !x.late_results.empty(); }));
  std::lock_guard<std::mutex> guard{b->mtx};
  // Past its deadline the late call fails where it is made; the caller's
  // timeout also cancels the late request with the calls it made, and
  // whichever comes first answers it.
  auto got = b->late_results.front();
  CHECK((got == errc::deadline_exceeded || got == errc::cancelled));
  CHECK(b->started.count("late") == 0);
}

TEST_CASE("a handle's timeout cancels the callee, from an actor and from a "
          "thread",
          "[cancel][deadline]") {
  auto b = std::make_shared<board>();
  serve s{http_on_free_port()};
  auto hold = s.deployment("Holder", holder).bind(b);
  auto h = s.run(hold, {"holder", ""});
  REQUIRE(h);
  REQUIRE(s.run(s.deployment("Front", front).bind(hold, b), {"app", "/"}));
  // From a thread: the call fails at its timeout, and the holder's handler
  // sees the cancellation instead of running on.
  auto r = h->options({milliseconds(200), {}, {}})
               .call(std::string{"thread"})
               .get(seconds(5));
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == errc::deadline_exceeded);
  CHECK(b->wait([](board& x) { return x.cancelled.count("thread") == 1; }));
  // From a replica's handler.
  auto answer = test::http(s.http_port(), "POST", "/timed", "actor");
  CHECK(answer.status == 200);
  CHECK(answer.body == to_string(errc::deadline_exceeded));
  CHECK(b->wait([](board& x) { return x.cancelled.count("actor") == 1; }));
  CHECK(test::replicas_idle(s));
}
