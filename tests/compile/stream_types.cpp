// Compiled by ctest, not built: with ACTORSERVE_RIGHT_TYPES the consumer
// takes the stream's chunk type and must compile; without, it takes
// std::string from a stream of int32_t and must be rejected by consume's
// own check.
#include <cstdint>
#include <string>

#include "actorserve/stream.hpp"

void read_it(caf::event_based_actor* self, actorserve::stream<int32_t> s) {
#ifdef ACTORSERVE_RIGHT_TYPES
  actorserve::consume(
      self, s, [](int32_t&) {}, [](const caf::error&) {});
#else
  actorserve::consume(
      self, s, [](std::string&) {}, [](const caf::error&) {});
#endif
}
