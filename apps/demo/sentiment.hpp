/// @file
/// The demo's sentiment model, small and honest: a word list whose words
/// carry a weight of +1, -1 or 0; a text's label is the sign of its sum.
/// The /classify and /pipeline applications serve it.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace demo {

/// A word-list model: the vocabulary maps words to token ids (0 is unknown)
/// and each id carries a sentiment weight. Classification sums the weights.
struct sentiment_model {
  std::unordered_map<std::string, int32_t> ids;
  std::vector<int> weights{0};

  sentiment_model();

  void add(const std::string& word, int weight);

  /// One token per whitespace-separated word; punctuation is stripped and
  /// case folded before the lookup.
  std::vector<int32_t> tokenize(const std::string& text) const;

  /// "positive", "negative" or "neutral".
  std::string classify(const std::vector<int32_t>& tokens) const;
};

/// The one model of this process.
const sentiment_model& model();

} // namespace demo
