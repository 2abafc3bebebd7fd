// How a worker that lost its head paces its tries to join again
// (node_agent.hpp): a pure decision, no actors.
#include <catch2/catch.hpp>

#include "cluster/node_agent.hpp"

using actorserve::detail::after_rejoin_failure;
using ms = std::chrono::milliseconds;

TEST_CASE("rejoin tries back off from 100 ms to 2 s, the last at the "
          "deadline, then give up",
          "[cluster][rejoin]") {
  auto step = after_rejoin_failure(ms{100}, ms{60'000});
  CHECK_FALSE(step.give_up);
  CHECK(step.wait == ms{100});
  CHECK(step.next_backoff == ms{200});
  // Doubling stops at 2 s.
  step = after_rejoin_failure(ms{1600}, ms{60'000});
  CHECK(step.wait == ms{1600});
  CHECK(step.next_backoff == ms{2000});
  step = after_rejoin_failure(ms{2000}, ms{60'000});
  CHECK(step.next_backoff == ms{2000});
  // The last try waits only until the deadline.
  step = after_rejoin_failure(ms{2000}, ms{300});
  CHECK_FALSE(step.give_up);
  CHECK(step.wait == ms{300});
  // At or past the deadline: no more tries.
  CHECK(after_rejoin_failure(ms{100}, ms{0}).give_up);
  CHECK(after_rejoin_failure(ms{100}, ms{-5}).give_up);
}
