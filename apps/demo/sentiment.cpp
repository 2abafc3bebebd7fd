// The demo's sentiment model (sentiment.hpp).
#include "sentiment.hpp"

#include <cctype>

namespace demo {

sentiment_model::sentiment_model() {
  const char* positive[] = {"love",  "like",    "great",     "good",
                            "happy", "best",    "excellent", "amazing",
                            "nice",  "awesome", "wonderful", "enjoy"};
  const char* negative[] = {"hate",  "dislike", "bad",        "terrible",
                            "awful", "worst",   "sad",        "horrible",
                            "poor",  "angry",   "disgusting", "boring"};
  const char* neutral[] = {"i", "you", "this", "that",  "it",    "is",
                           "a", "the", "and",  "hello", "world", "movie"};
  for (auto w : positive)
    add(w, 1);
  for (auto w : negative)
    add(w, -1);
  for (auto w : neutral)
    add(w, 0);
}

void sentiment_model::add(const std::string& word, int weight) {
  ids.emplace(word, static_cast<int32_t>(weights.size()));
  weights.push_back(weight);
}

std::vector<int32_t> sentiment_model::tokenize(const std::string& text) const {
  std::vector<int32_t> result;
  std::string key;
  bool in_word = false;
  auto end_word = [&] {
    if (!in_word)
      return;
    auto i = ids.find(key);
    result.push_back(i == ids.end() ? 0 : i->second);
    key.clear();
    in_word = false;
  };
  for (auto c : text) {
    auto u = static_cast<unsigned char>(c);
    if (std::isspace(u)) {
      end_word();
      continue;
    }
    in_word = true;
    if (std::isalnum(u))
      key += static_cast<char>(std::tolower(u));
  }
  end_word();
  return result;
}

std::string
sentiment_model::classify(const std::vector<int32_t>& tokens) const {
  int score = 0;
  for (auto t : tokens)
    if (t >= 0 && static_cast<size_t>(t) < weights.size())
      score += weights[static_cast<size_t>(t)];
  return score > 0 ? "positive" : score < 0 ? "negative" : "neutral";
}

const sentiment_model& model() {
  static const sentiment_model instance;
  return instance;
}

} // namespace demo
