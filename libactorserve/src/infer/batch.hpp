/// @file
/// Dynamic batching of v2 requests along dimension 0, as Triton's dynamic
/// batcher does: `concat_batch` joins requests into one whose inputs are
/// the parts' inputs one after another (BYTES: their element streams), and
/// `split_batch` cuts the model's response back into the parts' responses.
///
/// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include <caf/expected.hpp>

#include "actorserve/tensor.hpp"

namespace actorserve::detail {

/// A joined request and the rows each part brought, in order.
struct batched_request {
  /// Inputs in the first part's order; `outputs` the union of the parts'
  /// (empty, meaning all, when one part asked for all); no id and no
  /// parameters (each part keeps its own).
  infer_request request;
  std::vector<int64_t> rows;
};

/// Joins `parts` (at least one): each must have the same inputs, by name,
/// with the same datatypes and the same dimensions after the first, and
/// every input of a part the same dimension 0. `bad_request` naming the
/// part and input otherwise.
caf::expected<batched_request>
concat_batch(const std::vector<const infer_request*>& parts);

/// Cuts `batched` into one response per entry of `rows`: each output's
/// rows, in order, with the model's name, version and parameters (the id is
/// left to the caller). An output whose dimension 0 is not the rows' sum
/// fails every part (`user_error`: the model answered a batch wrongly).
caf::expected<std::vector<infer_response>>
split_batch(const infer_response& batched, const std::vector<int64_t>& rows);

} // namespace actorserve::detail
