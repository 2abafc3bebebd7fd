// Compiled by ctest, not built: with ACTORSERVE_RIGHT_TYPES it must compile;
// without, bind() gets a node of another interface where the function takes
// handle<tokenizer_actor>, and must be rejected by bind's own check.
#include <string>
#include <vector>

#include "actorserve/actorserve.hpp"

using tokenizer_actor =
    caf::typed_actor<caf::replies_to<std::string>::with<std::vector<int32_t>>>;
using other_actor = caf::typed_actor<caf::replies_to<int32_t>::with<int32_t>>;

tokenizer_actor::behavior_type tokenizer(tokenizer_actor::pointer) {
  return {[](const std::string&) { return std::vector<int32_t>{}; }};
}

other_actor::behavior_type other(other_actor::pointer) {
  return {[](int32_t x) { return x; }};
}

actorserve::http_ingress::behavior_type
classifier(actorserve::http_ingress::pointer,
           actorserve::handle<tokenizer_actor>) {
  return {[](actorserve::http_request&) -> actorserve::reply {
    return actorserve::http_response{};
  }};
}

void build() {
#ifdef ACTORSERVE_RIGHT_TYPES
  auto child = actorserve::deployment("Tokenizer", tokenizer).bind();
#else
  auto child = actorserve::deployment("Other", other).bind();
#endif
  actorserve::deployment("Classifier", classifier).bind(child);
}
