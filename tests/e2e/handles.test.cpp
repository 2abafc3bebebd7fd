// Handles from main() and between deployments, user code failures, and
// start-up errors, in-process with real actors.
#include <atomic>
#include <cstdint>
#include <stdexcept>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"

using namespace std::chrono;
using namespace actorserve;

namespace {

using add_atom = caf::atom_constant<caf::atom("add")>;
using mul_atom = caf::atom_constant<caf::atom("mul")>;

using calc_actor =
    caf::typed_actor<caf::replies_to<add_atom, int32_t, int32_t>::with<int32_t>,
                     caf::replies_to<mul_atom, int32_t, int32_t>::with<int32_t>,
                     caf::replies_to<std::string>::with<std::string>>;

calc_actor::behavior_type calc(calc_actor::pointer self) {
  return {
      [](add_atom, int32_t x, int32_t y) { return x + y; },
      [](mul_atom, int32_t x, int32_t y) { return x * y; },
      [=](const std::string& what) -> std::string {
        if (what == "throw")
          throw std::runtime_error("calc was asked to throw");
        if (what == "config")
          return replica_context_of(self).user_config;
        return what;
      },
  };
}

using square_actor = caf::typed_actor<caf::replies_to<int32_t>::with<int32_t>>;

// Awaits another deployment: (x*x) computed by calc, then + 1.
square_actor::behavior_type squarer(square_actor::pointer self,
                                    handle<calc_actor> c) {
  return {[=](int32_t x) -> caf::result<int32_t> {
    auto rp = self->make_response_promise<int32_t>();
    c.call(self, mul_atom::value, x, x)
        .await([=](int32_t y) mutable { rp.deliver(y + 1); },
               [=](caf::error& err) mutable { rp.deliver(err); });
    return rp;
  }};
}

using pair_actor =
    caf::typed_actor<caf::replies_to<int32_t>::with<std::string>>;

// Sums x + 1 and multiplies x * x in parallel through when_all; x < 0 makes
// the second call fail.
pair_actor::behavior_type gatherer(pair_actor::pointer self,
                                   handle<calc_actor> c) {
  return {[=](int32_t x) -> caf::result<std::string> {
    auto rp = self->make_response_promise<std::string>();
    auto second = x < 0 ? c.call(self, std::string{"throw"})
                        : c.call(self, std::to_string(x * x));
    // The first error answers the request by itself.
    when_all(c.call(self, add_atom::value, x, 1), std::move(second))
        .then([=](int32_t sum, std::string& product) mutable {
          rp.deliver(std::to_string(sum) + "," + product);
        });
    return rp;
  }};
}

using scale_actor =
    caf::typed_actor<caf::replies_to<int64_t, double>::with<double>>;

scale_actor::behavior_type scaler(scale_actor::pointer) {
  return {
      [](int64_t x, double factor) { return static_cast<double>(x) * factor; }};
}

// Calls the scaler with an int and a float, which widen on the way.
square_actor::behavior_type widener(square_actor::pointer self,
                                    handle<scale_actor> sc) {
  return {[=](int32_t x) -> caf::result<int32_t> {
    auto rp = self->make_response_promise<int32_t>();
    sc.call(self, x, 0.5f).then([=](double y) mutable {
      rp.deliver(static_cast<int32_t>(y * 4));
    });
    return rp;
  }};
}

using keeper_actor =
    caf::typed_actor<caf::replies_to<std::string>::with<std::string>>;

// Answers where its argument's characters live: a handler that takes its
// argument by mutable reference, as handlers that move from it do.
keeper_actor::behavior_type keeper(keeper_actor::pointer) {
  return {[](std::string& s) {
    return std::to_string(reinterpret_cast<std::uintptr_t>(s.data()));
  }};
}

square_actor::behavior_type broken(square_actor::pointer) {
  throw std::runtime_error("cannot load the model file");
}

serve_options no_http() {
  serve_options opts;
  opts.admin.port = 0; // a free port: tests run side by side
  opts.http.enabled = false;
  return opts;
}

} // namespace

TEST_CASE("handles call deployments from main and pick the method by atom",
          "[handles]") {
  serve s{no_http()};
  auto h =
      s.run(s.deployment("Calc", calc).num_replicas(2).bind(), {"calc", ""});
  REQUIRE(h);
  auto sum = h->call(add_atom::value, 2, 3).get(seconds(5));
  REQUIRE(sum);
  CHECK(*sum == 5);
  auto product = h->call(mul_atom::value, 4, 5).get(seconds(5));
  REQUIRE(product);
  CHECK(*product == 20);
  auto by_name = s.get_deployment_handle<calc_actor>("calc", "Calc");
  REQUIRE(by_name);
  CHECK(*by_name->call(std::string{"echo"}).get(seconds(5)) == "echo");
  // A string literal fits an interface that takes std::string.
  CHECK(*by_name->call("literal").get(seconds(5)) == "literal");
}

TEST_CASE("a handler that takes its argument by mutable reference gets the "
          "caller's value, not a copy",
          "[handles]") {
  auto mode = GENERATE(execution::isolated, execution::inline_);
  serve s{no_http()};
  auto h =
      s.run(s.deployment("Keeper", keeper).mode(mode).bind(), {"keeper", ""});
  REQUIRE(h);
  for (int i = 0; i < 3; ++i) {
    // Past any small-string buffer: the characters live on the heap, and a
    // copy made while the caller still held the value would live elsewhere.
    std::string value(4096, 'x');
    auto where = std::to_string(reinterpret_cast<std::uintptr_t>(value.data()));
    auto r = h->call(std::move(value)).get(seconds(5));
    REQUIRE(r);
    CHECK(*r == where);
  }
}

TEST_CASE("arithmetic arguments widen losslessly to the interface's types",
          "[handles]") {
  serve s{no_http()};
  auto sc = s.deployment("Scale", scaler).bind();
  auto h = s.run(s.deployment("Widen", widener).bind(sc), {"widen", ""});
  REQUIRE(h);
  // From a deployment: int32_t to int64_t, float to double.
  auto inside = h->call(int32_t{6}).get(seconds(5));
  REQUIRE(inside);
  CHECK(*inside == 12);
  // From main: short and int to int64_t and double.
  auto direct = s.get_deployment_handle<scale_actor>("widen", "Scale");
  REQUIRE(direct);
  auto r = direct->call(short{7}, 3).get(seconds(5));
  REQUIRE(r);
  CHECK(*r == 21.0);
}

TEST_CASE("a deployment awaits another through a handle", "[handles]") {
  serve s{no_http()};
  auto c = s.deployment("Calc", calc).bind();
  auto h = s.run(s.deployment("Square", squarer).bind(c), {"sq", ""});
  REQUIRE(h);
  auto r = h->call(7).get(seconds(5));
  REQUIRE(r);
  CHECK(*r == 50);
}

TEST_CASE("when_all gathers parallel calls and fails on the first error",
          "[handles]") {
  serve s{no_http()};
  auto c = s.deployment("Calc", calc).num_replicas(2).bind();
  auto h = s.run(s.deployment("Gather", gatherer).bind(c), {"gather", ""});
  REQUIRE(h);
  auto ok = h->call(int32_t{6}).get(seconds(5));
  REQUIRE(ok);
  CHECK(*ok == "7,36");
  auto bad = h->call(int32_t{-1}).get(seconds(5));
  REQUIRE_FALSE(bad);
  CHECK(code_of(bad.error()) == errc::user_error);
  CHECK_THAT(message_of(bad.error()), Catch::Contains("asked to throw"));
}

TEST_CASE("a throwing handler fails the call and the replica lives on",
          "[handles]") {
  serve s{no_http()};
  auto h = s.run(s.deployment("Calc", calc).bind(), {"calc", ""});
  REQUIRE(h);
  auto bad = h->call(std::string{"throw"}).get(seconds(5));
  REQUIRE_FALSE(bad);
  CHECK(code_of(bad.error()) == errc::user_error);
  CHECK_THAT(message_of(bad.error()), Catch::Contains("asked to throw"));
  auto good = h->call(add_atom::value, 1, 1).get(seconds(5));
  REQUIRE(good);
  CHECK(*good == 2);
  auto st = s.status();
  REQUIRE(st);
  CHECK(st->applications.at(0).deployments.at(0).replicas.size() == 1);
}

TEST_CASE("user_config reaches every replica", "[handles]") {
  serve s{no_http()};
  auto h = s.run(s.deployment("Calc", calc)
                     .num_replicas(2)
                     .user_config(R"({"threshold": 0.5})")
                     .bind(),
                 {"calc", ""});
  REQUIRE(h);
  for (int i = 0; i < 4; ++i)
    CHECK(*h->call(std::string{"config"}).get(seconds(5)) ==
          R"({"threshold": 0.5})");
}

TEST_CASE("a constructor that throws fails run() with its message",
          "[handles]") {
  serve s{no_http()};
  auto h = s.run(s.deployment("Broken", broken).bind(), {"broken", ""});
  REQUIRE_FALSE(h);
  CHECK(code_of(h.error()) == errc::user_error);
  CHECK_THAT(message_of(h.error()), Catch::Contains("cannot load the model"));
  CHECK_THAT(message_of(h.error()), Catch::Contains("Broken"));
}

TEST_CASE("a bad config fails run() naming the field", "[handles]") {
  serve s{no_http()};
  auto h = s.run(s.deployment("Calc", calc).max_ongoing_requests(0).bind(),
                 {"calc", ""});
  REQUIRE_FALSE(h);
  CHECK(code_of(h.error()) == errc::invalid_config);
  CHECK_THAT(message_of(h.error()), Catch::Contains("max_ongoing_requests"));
  CHECK_THAT(message_of(h.error()), Catch::Contains("Calc"));
}

namespace {

using relay_actor =
    caf::typed_actor<caf::replies_to<int32_t>::with<std::string>>;

// x = 0: `.then(f)` alone, on a call that fails; x = 1: run_blocking inside
// the continuation of a call.
relay_actor::behavior_type relay(relay_actor::pointer self,
                                 handle<calc_actor> c) {
  return {[=](int32_t x) -> caf::result<std::string> {
    auto rp = self->make_response_promise<std::string>();
    if (x == 0) {
      c.call(self, "throw").then([=](std::string& s) mutable {
        rp.deliver(s);
      });
    } else {
      c.call(self, add_atom::value, x, 2).then([=](int32_t sum) {
        run_blocking(self, [sum] { return std::to_string(sum * 10); });
      });
    }
    return rp;
  }};
}

} // namespace

TEST_CASE("a continuation without an error handler forwards errors, and "
          "run_blocking works inside a continuation",
          "[handles]") {
  auto mode = GENERATE(execution::isolated, execution::inline_);
  serve s{no_http()};
  auto c = s.deployment("Calc", calc).bind();
  auto h =
      s.run(s.deployment("Relay", relay).mode(mode).bind(c), {"relay", ""});
  REQUIRE(h);
  auto forwarded = h->call(int32_t{0}).get(seconds(5));
  REQUIRE_FALSE(forwarded);
  CHECK(code_of(forwarded.error()) == errc::user_error);
  CHECK_THAT(message_of(forwarded.error()), Catch::Contains("asked to throw"));
  auto offloaded = h->call(int32_t{1}).get(seconds(5));
  REQUIRE(offloaded);
  CHECK(*offloaded == "30");
}

namespace {

// x = 0: calls a handle from inside run_blocking; x = 1: waits on a future
// with .get() in the handler (a thread that runs actors).
square_actor::behavior_type misuser(square_actor::pointer self,
                                    handle<calc_actor> c) {
  return {[=](int32_t x) -> caf::result<int32_t> {
    if (x == 0)
      return run_blocking(self, [=]() -> int32_t {
        c.call(self, add_atom::value, 1, 1);
        return 0;
      });
    auto r = c.call(add_atom::value, 1, 1).get(seconds(1));
    if (!r)
      return r.error();
    return *r;
  }};
}

} // namespace

TEST_CASE("a handle called from run_blocking, or .get() on an actor's "
          "thread, fails with a clear error instead of racing or stalling",
          "[handles]") {
  auto mode = GENERATE(execution::isolated, execution::inline_);
  serve s{no_http()};
  auto c = s.deployment("Calc", calc).bind();
  auto h = s.run(s.deployment("Misuser", misuser).mode(mode).bind(c),
                 {"misuser", ""});
  REQUIRE(h);
  auto from_blocking = h->call(int32_t{0}).get(seconds(5));
  REQUIRE_FALSE(from_blocking);
  CHECK_THAT(message_of(from_blocking.error()),
             Catch::Contains("from inside run_blocking"));
  auto waited = h->call(int32_t{1}).get(seconds(5));
  REQUIRE_FALSE(waited);
  CHECK(code_of(waited.error()) == errc::internal);
  CHECK_THAT(message_of(waited.error()), Catch::Contains(".then or .await"));
}
