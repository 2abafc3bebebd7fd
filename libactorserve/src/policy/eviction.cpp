// Multiplexing's one decision: which models a replica evicts past its
// capacity (a pure function of the models, most recent first).
#include "actorserve/multiplexing.hpp"

namespace actorserve {

caf::error validate(const multiplex_options& opts) {
  if (opts.max_num_models_per_replica == 0 ||
      opts.max_num_models_per_replica < -1)
    return make_error(errc::invalid_config,
                      "multiplex option max_num_models_per_replica must be "
                      "-1 (no limit) or >= 1 (got " +
                          std::to_string(opts.max_num_models_per_replica) +
                          ")");
  return {};
}

std::vector<std::string>
models_to_evict(const std::vector<std::string>& recent_first,
                int32_t capacity) {
  if (capacity < 0 || recent_first.size() <= static_cast<size_t>(capacity))
    return {};
  return {recent_first.begin() + capacity, recent_first.end()};
}

} // namespace actorserve
