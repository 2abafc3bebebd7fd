// Compiled by ctest, not built: with ACTORSERVE_RIGHT_TYPES the call widens
// int16_t and float losslessly and must compile; without, it passes a
// double where the interface takes int32_t, which would lose the fraction,
// and must be rejected by the handle's own check.
#include <cstdint>

#include "actorserve/handle.hpp"

using scale_actor =
    caf::typed_actor<caf::replies_to<int32_t, double>::with<double>>;

void call_it(caf::event_based_actor* self, actorserve::handle<scale_actor> h) {
#ifdef ACTORSERVE_RIGHT_TYPES
  h.call(self, int16_t{3}, 2.5f).then([](double) {});
  auto f = h.call('a', 1);
  (void)f;
#else
  h.call(self, 2.5, 2.5).then([](double) {});
#endif
}
