#include "infer/batch.hpp"

#include <limits>

#include "actorserve/error.hpp"
#include "infer/tensor_access.hpp"
#include "infer/v2_data.hpp"

namespace actorserve::detail {

namespace {

constexpr int64_t int64_max = std::numeric_limits<int64_t>::max();

bool same_trailing(const tensor& a, const tensor& b) {
  return a.shape().size() == b.shape().size() &&
         std::equal(a.shape().begin() + 1, a.shape().end(),
                    b.shape().begin() + 1);
}

/// Checks part `k` against the first and says how many rows it brings.
caf::expected<int64_t> rows_of(const infer_request& part, size_t k,
                               const infer_request& first) {
  auto label = "part " + std::to_string(k);
  if (part.inputs.size() != first.inputs.size())
    return bad_body(label + " has " + std::to_string(part.inputs.size()) +
                    " inputs, part 0 has " + std::to_string(first.inputs.size()));
  int64_t rows = -1;
  for (auto& want : first.inputs) {
    auto t = part.input(want.name());
    auto in = label + ", input " + quote_name(want.name());
    if (!t)
      return bad_body(in + ": missing");
    if (t->type() != want.type())
      return bad_body(in + ": datatype " + to_string(t->type()) +
                      ", part 0's is " + to_string(want.type()));
    if (t->shape().empty() || !same_trailing(*t, want))
      return bad_body(in + ": shape " + shape_text(t->shape()) +
                      " does not batch with part 0's " + shape_text(want.shape()));
    if (rows >= 0 && t->shape()[0] != rows)
      return bad_body(in + ": dimension 0 is " + std::to_string(t->shape()[0]) +
                      ", the part's other inputs have " + std::to_string(rows));
    rows = t->shape()[0];
  }
  return rows < 0 ? 0 : rows;
}

/// The union of the parts' requested outputs; empty when one asks for all.
std::vector<requested_output>
outputs_of(const std::vector<const infer_request*>& parts) {
  std::vector<requested_output> out;
  for (auto p : parts) {
    if (p->outputs.empty())
      return {};
    for (auto& r : p->outputs) {
      bool known = false;
      for (auto& o : out)
        known = known || o.name == r.name;
      if (!known)
        out.push_back({r.name, false});
    }
  }
  return out;
}

caf::expected<tensor> join_input(const std::vector<const infer_request*>& parts,
                                 const tensor& first, int64_t total) {
  auto shape = first.shape();
  shape[0] = total;
  auto count = element_count(shape);
  if (!count)
    return bad_body("input " + quote_name(first.name()) +
                    ": the joined batch holds too many elements");
  size_t bytes = 0;
  for (auto p : parts)
    bytes += p->input(first.name())->raw().size();
  std::vector<std::byte> data;
  data.reserve(bytes);
  for (auto p : parts) {
    auto raw = p->input(first.name())->raw();
    data.insert(data.end(), raw.begin(), raw.end());
  }
  return tensor_access::make(first.name(), first.type(), std::move(shape),
                             *count, std::move(data));
}

} // namespace

caf::expected<batched_request>
concat_batch(const std::vector<const infer_request*>& parts) {
  if (parts.empty())
    return bad_body("a batch needs one request at least");
  for (auto p : parts)
    if (!p)
      return bad_body("a batch's part is missing");
  batched_request out;
  auto& first = *parts.front();
  int64_t total = 0;
  for (size_t k = 0; k < parts.size(); ++k) {
    auto rows = rows_of(*parts[k], k, first);
    if (!rows)
      return std::move(rows.error());
    if (*rows > int64_max - total)
      return bad_body("the batch's rows add up past int64");
    total += *rows;
    out.rows.push_back(*rows);
  }
  for (auto& in : first.inputs) {
    auto joined = join_input(parts, in, total);
    if (!joined)
      return std::move(joined.error());
    out.request.inputs.push_back(std::move(*joined));
  }
  out.request.outputs = outputs_of(parts);
  return out;
}

namespace {

/// Cuts `t` (its dimension 0 is the rows' sum) into one tensor per part.
void cut_output(const tensor& t, const std::vector<int64_t>& rows,
                std::vector<infer_response>& parts) {
  auto total = t.shape()[0];
  size_t per_row = total == 0 ? 0 : t.size() / static_cast<size_t>(total);
  auto raw = t.raw();
  std::vector<size_t> offsets; // BYTES: where each element starts
  if (t.type() == datatype::BYTES)
    offsets = bytes_offsets(raw.data(), t.size());
  auto at = [&](size_t element) {
    return t.type() == datatype::BYTES ? offsets[element]
                                       : element * element_size(t.type());
  };
  size_t row = 0;
  for (size_t k = 0; k < rows.size(); ++k) {
    auto shape = t.shape();
    shape[0] = rows[k];
    size_t begin = row * per_row;
    size_t end = (row + static_cast<size_t>(rows[k])) * per_row;
    std::vector<std::byte> data(raw.data() + at(begin), raw.data() + at(end));
    parts[k].outputs.push_back(tensor_access::make(
      t.name(), t.type(), std::move(shape), end - begin, std::move(data)));
    row += static_cast<size_t>(rows[k]);
  }
}

} // namespace

caf::expected<std::vector<infer_response>>
split_batch(const infer_response& batched, const std::vector<int64_t>& rows) {
  int64_t total = 0;
  for (auto r : rows) {
    if (r < 0 || r > int64_max - total)
      return make_error(errc::bad_request, "a batch's row counts must be >= 0 "
                                           "and add up within int64");
    total += r;
  }
  for (auto& t : batched.outputs)
    if (t.shape().empty() || t.shape()[0] != total)
      return make_error(errc::user_error,
                        "output " + quote_name(t.name()) + ": shape " +
                          shape_text(t.shape()) + ", but the batch has " +
                          std::to_string(total) + " rows in dimension 0");
  std::vector<infer_response> parts(rows.size());
  for (auto& p : parts) {
    p.model_name = batched.model_name;
    p.model_version = batched.model_version;
    p.parameters = batched.parameters;
  }
  for (auto& t : batched.outputs)
    cut_output(t, rows, parts);
  return parts;
}

} // namespace actorserve::detail
