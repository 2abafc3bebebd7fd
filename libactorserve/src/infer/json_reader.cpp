#include "infer/json_reader.hpp"

#include <cstring>
#include <limits>

#include "base/text.hpp"

namespace actorserve::detail {

using nlohmann::json;

namespace {

/// nlohmann's SAX events, building the DOM or, inside a tensor's `data`,
/// the tape.
class reader : public nlohmann::json_sax<json> {
public:
  reader(std::string_view tensors, read_json& out)
    : tensors_(tensors), out_(out) {}

  bool null() override { return scalar(json{}, data_token::kind::other, 0); }
  bool boolean(bool x) override {
    return scalar(json(x), data_token::kind::boolean, x ? 1 : 0);
  }
  bool number_integer(number_integer_t x) override {
    return scalar(json(x), data_token::kind::integer, static_cast<uint64_t>(x));
  }
  bool number_unsigned(number_unsigned_t x) override {
    return scalar(json(x), data_token::kind::unsigned_integer, x);
  }
  bool number_float(number_float_t x, const string_t&) override {
    uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return scalar(json(x), data_token::kind::floating, bits);
  }
  bool string(string_t& x) override;
  bool binary(binary_t&) override { return false; } // JSON text has none
  bool start_object(std::size_t) override;
  bool key(string_t& x) override;
  bool end_object() override;
  bool start_array(std::size_t) override;
  bool end_array() override;
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception&) override {
    return false;
  }

private:
  /// Adds `v` to the DOM where the parser is.
  json* add(json v);
  /// A scalar: on the tape inside `data`, else into the DOM.
  bool scalar(json v, data_token::kind k, uint64_t value);
  /// Whether the value about to start is a tensor's `data`.
  bool at_data() const noexcept;
  data_tape& tape() { return out_.tapes.back(); }

  std::string_view tensors_;
  read_json& out_;
  std::vector<json*> stack_; // the DOM's open containers
  const json* tensors_array_ = nullptr;
  std::string key_;          // the key of the value about to start
  bool in_tape_ = false;
  std::vector<size_t> open_; // the tape's open arrays (token indices)
  size_t skipping_ = 0;      // depth inside an object on the tape
};

json* reader::add(json v) {
  if (stack_.empty()) {
    out_.dom = std::move(v);
    return &out_.dom;
  }
  auto& parent = *stack_.back();
  if (parent.is_array()) {
    parent.push_back(std::move(v));
    return &parent.back();
  }
  auto& slot = parent[key_];
  slot = std::move(v);
  return &slot;
}

bool reader::at_data() const noexcept {
  // The top object, the array `tensors` in it, an object in that, "data".
  return stack_.size() == 3 && stack_[1] == tensors_array_ &&
         stack_[1]->is_array() && stack_[2]->is_object() && key_ == "data";
}

bool reader::scalar(json v, data_token::kind k, uint64_t value) {
  if (skipping_ > 0)
    return true;
  if (!in_tape_ && !at_data()) {
    add(std::move(v));
    return true;
  }
  if (!in_tape_) { // `data` that is not an array: a tape of one token
    add(json::binary({}, out_.tapes.size()));
    out_.tapes.emplace_back();
  }
  tape().tokens.push_back({k, 0, value});
  if (open_.empty())
    in_tape_ = false;
  else
    ++tape().tokens[open_.back()].value;
  return true;
}

bool reader::string(string_t& x) {
  if (skipping_ > 0)
    return true;
  if (!in_tape_ && !at_data()) {
    add(json(std::move(x)));
    return true;
  }
  if (x.size() > std::numeric_limits<uint32_t>::max())
    return false;
  uint64_t offset = in_tape_ ? tape().text.size() : 0;
  if (!scalar(json{}, data_token::kind::string, offset))
    return false;
  auto& t = out_.tapes.back();
  t.tokens.back().length = static_cast<uint32_t>(x.size());
  t.text += x;
  return true;
}

bool reader::start_object(std::size_t) {
  if (skipping_ > 0) {
    ++skipping_;
    return true;
  }
  if (in_tape_ || at_data()) { // one token; its contents are skipped
    scalar(json{}, data_token::kind::other, 0);
    skipping_ = 1;
    return true;
  }
  stack_.push_back(add(json::object()));
  return true;
}

bool reader::key(string_t& x) {
  if (skipping_ == 0)
    key_ = std::move(x);
  return true;
}

bool reader::end_object() {
  if (skipping_ > 0) {
    --skipping_;
    return true;
  }
  stack_.pop_back();
  return true;
}

bool reader::start_array(std::size_t) {
  if (skipping_ > 0)
    return true;
  if (!in_tape_ && !at_data()) {
    stack_.push_back(add(json::array()));
    if (stack_.size() == 2 && stack_[0]->is_object() && key_ == tensors_)
      tensors_array_ = stack_.back();
    return true;
  }
  if (!in_tape_) {
    add(json::binary({}, out_.tapes.size()));
    out_.tapes.emplace_back();
    in_tape_ = true;
  } else {
    ++tape().tokens[open_.back()].value;
  }
  open_.push_back(tape().tokens.size());
  tape().tokens.push_back({data_token::kind::array, 0, 0});
  return true;
}

bool reader::end_array() {
  if (skipping_ > 0)
    return true;
  if (!in_tape_) {
    stack_.pop_back();
    return true;
  }
  open_.pop_back();
  if (open_.empty())
    in_tape_ = false;
  return true;
}

} // namespace

bool read_json_text(std::string_view x, std::string_view tensors,
                    read_json& out) {
  if (json_nesting_over(x, max_json_depth))
    return false;
  reader r{tensors, out};
  return json::sax_parse(x.begin(), x.end(), &r);
}

} // namespace actorserve::detail
