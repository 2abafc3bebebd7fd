// Compiled by ctest, not built: with ACTORSERVE_RIGHT_TYPES it must compile;
// without, the call passes an int where the interface takes a string and
// must be rejected at compile time.
#include <string>
#include <vector>

#include "actorserve/handle.hpp"

using tokenizer_actor =
    caf::typed_actor<caf::replies_to<std::string>::with<std::vector<int32_t>>>;

void call_it(caf::event_based_actor* self,
             actorserve::handle<tokenizer_actor> tok) {
#ifdef ACTORSERVE_RIGHT_TYPES
  tok.call(self, std::string{"a b"})
      .then([](std::vector<int32_t>&) {}, [](caf::error&) {});
#else
  tok.call(self, 42).then([](std::vector<int32_t>&) {}, [](caf::error&) {});
#endif
}
