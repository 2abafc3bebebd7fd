// Every request a replica takes is answered exactly once, however its
// handler goes wrong, and the replica's slot comes back: in-process with
// real actors and threads, isolated and inline.
#include <stdexcept>
#include <string>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"

using namespace std::chrono;
using namespace actorserve;

namespace {

/// How the handler goes wrong for a given argument.
enum fault : int32_t {
  drops_promise = 1,       // makes a promise and lets it go undelivered
  throws_after_promise,    // makes a promise, then throws
  continuation_throws,     // a `.then` continuation throws
  blocking_throws_non_std, // run_blocking's function throws an int
  throws_non_std,          // the handler throws an int
};

using faulty_actor =
    caf::typed_actor<caf::replies_to<int32_t>::with<int32_t>,
                     caf::replies_to<std::string>::with<int32_t>>;

using helper_actor =
    caf::typed_actor<caf::replies_to<std::string>::with<int32_t>>;

helper_actor::behavior_type helper(helper_actor::pointer) {
  return {[](const std::string&) { return int32_t{0}; }};
}

faulty_actor::behavior_type faulty(faulty_actor::pointer self,
                                   handle<helper_actor> h) {
  return {
      [=](int32_t x) -> caf::result<int32_t> {
        switch (x) {
        case drops_promise:
          return self->make_response_promise<int32_t>();
        case throws_after_promise: {
          auto rp = self->make_response_promise<int32_t>();
          throw std::runtime_error("thrown after the promise was made");
        }
        case continuation_throws: {
          auto rp = self->make_response_promise<int32_t>();
          h.call(self, "inner").then([rp](int32_t) mutable -> void {
            throw std::runtime_error("the continuation threw");
          });
          return rp;
        }
        case blocking_throws_non_std:
          return run_blocking(self, []() -> int32_t { throw 42; });
        case throws_non_std:
          throw 42;
        default:
          return x;
        }
      },
      [](const std::string&) { return int32_t{0}; },
  };
}

serve_options no_http() {
  serve_options opts;
  opts.http.enabled = false;
  return opts;
}

} // namespace

TEST_CASE("a handler that goes wrong still answers its request, and the "
          "replica's slot comes back",
          "[answers]") {
  auto mode = GENERATE(execution::isolated, execution::inline_);
  auto kind = GENERATE(drops_promise, throws_after_promise, continuation_throws,
                       blocking_throws_non_std, throws_non_std);
  CAPTURE(static_cast<int>(mode), kind);
  serve s{no_http()};
  // One slot: a request that is never answered would hold it for good, and
  // the last call below would never run.
  auto helper_node = s.deployment("Helper", helper).bind();
  auto h = s.run(s.deployment("Faulty", faulty)
                     .max_ongoing_requests(1)
                     .mode(mode)
                     .bind(helper_node),
                 {"faulty", ""});
  REQUIRE(h);
  for (int i = 0; i < 3; ++i) {
    auto r = h->call(int32_t{kind}).get(seconds(10));
    REQUIRE_FALSE(r);
    auto msg = message_of(r.error());
    switch (kind) {
    case drops_promise:
      CHECK(code_of(r.error()) == errc::internal);
      CHECK_THAT(msg, Catch::Contains("without answering"));
      break;
    case throws_after_promise:
      CHECK(code_of(r.error()) == errc::user_error);
      CHECK_THAT(msg, Catch::Contains("thrown after the promise"));
      break;
    case continuation_throws:
      CHECK(code_of(r.error()) == errc::user_error);
      CHECK_THAT(msg, Catch::Contains("the continuation threw"));
      break;
    default:
      CHECK(code_of(r.error()) == errc::user_error);
      CHECK_THAT(msg, Catch::Contains("unknown exception"));
      break;
    }
  }
  auto ok = h->call(int32_t{7}).get(seconds(10));
  REQUIRE(ok);
  CHECK(*ok == 7);
}
