// The cluster's challenge and response (src/cluster/auth.hpp): what the
// head admits and what a node accepts as the head's proof.
#include <catch2/catch.hpp>

#include "cluster/auth.hpp"
#include "cluster/front_limits.hpp"

using namespace actorserve::detail::auth;

namespace {

nonce make_nonce() {
  nonce n{};
  REQUIRE(fresh_nonce(n));
  return n;
}

} // namespace

TEST_CASE("the head admits an answer made with the token, over its own "
          "challenge only",
          "[cluster][auth]") {
  const std::string token = "s3cret-token";
  auto head_nonce = make_nonce();
  auto challenge = make_challenge(head_nonce);
  REQUIRE(challenge.size() == challenge_size);
  nonce read{};
  REQUIRE(read_challenge(challenge, read));
  CHECK(read == head_nonce);
  auto node_nonce = make_nonce();
  auto answer = make_answer(token, head_nonce, node_nonce);
  REQUIRE(answer.size() == answer_size);
  // The token is nowhere in what crosses the wire.
  std::string wire(answer.begin(), answer.end());
  CHECK(wire.find(token) == std::string::npos);
  nonce seen{};
  CHECK(check_answer(token, head_nonce, answer, seen) == outcome::admitted);
  CHECK(seen == node_nonce);
  SECTION("a wrong token, shorter, longer or differing at the end") {
    for (std::string t : {"s3cret-toke", "s3cret-token!", "s3cret-tokeN", "x"})
      CHECK(check_answer(t, head_nonce, answer, seen) ==
            outcome::wrong_token);
  }
  SECTION("no token") {
    CHECK(check_answer(token, head_nonce,
                       make_answer("", head_nonce, node_nonce),
                       seen) == outcome::missing_token);
  }
  SECTION("a replayed answer: made for another challenge") {
    auto next = make_nonce();
    REQUIRE(next != head_nonce);
    CHECK(check_answer(token, next, answer, seen) == outcome::wrong_token);
  }
  SECTION("truncated, too long, or not an answer") {
    auto shorter = answer;
    shorter.pop_back();
    CHECK(check_answer(token, head_nonce, shorter, seen) ==
          outcome::malformed);
    auto longer = answer;
    longer.push_back(0);
    CHECK(check_answer(token, head_nonce, longer, seen) ==
          outcome::malformed);
    CHECK(check_answer(token, head_nonce, {}, seen) == outcome::malformed);
    auto flipped = answer;
    flipped[0] ^= 1; // the magic
    CHECK(check_answer(token, head_nonce, flipped, seen) ==
          outcome::malformed);
    auto flags = answer;
    flags[magic_size] = 7;
    CHECK(check_answer(token, head_nonce, flags, seen) == outcome::malformed);
  }
  SECTION("a flipped bit of the MAC") {
    auto bad = answer;
    bad.back() ^= 0x80;
    CHECK(check_answer(token, head_nonce, bad, seen) == outcome::wrong_token);
  }
  SECTION("a challenge of the wrong size or kind") {
    auto shorter = challenge;
    shorter.pop_back();
    CHECK_FALSE(read_challenge(shorter, read));
    auto other = challenge;
    other[1] ^= 1;
    CHECK_FALSE(read_challenge(other, read));
  }
}

TEST_CASE("a node accepts a verdict only with the head's proof of the token",
          "[cluster][auth]") {
  const std::string token = "s3cret-token";
  auto hn = make_nonce();
  auto nn = make_nonce();
  auto ok = make_verdict(token, outcome::admitted, hn, nn);
  REQUIRE(ok.size() == verdict_size);
  CHECK(check_verdict(token, hn, nn, ok) == outcome::admitted);
  // A head without the token cannot prove it, nor can one replaying the
  // verdict of another connection.
  CHECK(check_verdict(token, hn, nn,
                      make_verdict("guess", outcome::admitted, hn, nn)) ==
        outcome::malformed);
  CHECK(check_verdict(token, hn, make_nonce(), ok) == outcome::malformed);
  // The head's proof is not the node's: the labels differ.
  auto node_mac = make_answer(token, nn, hn);
  auto reflected = ok;
  std::copy(node_mac.end() - mac_size, node_mac.end(), reflected.begin() + 1);
  CHECK(check_verdict(token, hn, nn, reflected) == outcome::malformed);
  CHECK(check_verdict(token, hn, nn,
                      make_verdict(token, outcome::wrong_token, hn, nn)) ==
        outcome::wrong_token);
  CHECK(check_verdict(token, hn, nn,
                      make_verdict(token, outcome::missing_token, hn, nn)) ==
        outcome::missing_token);
  auto shorter = ok;
  shorter.pop_back();
  CHECK(check_verdict(token, hn, nn, shorter) == outcome::malformed);
  auto odd = ok;
  odd[0] = 9;
  CHECK(check_verdict(token, hn, nn, odd) == outcome::malformed);
}

TEST_CASE("a join proof holds for its nonce and token only",
          "[cluster][auth]") {
  auto n = make_nonce();
  std::string nonce_text(n.begin(), n.end());
  auto proof = join_proof("tok", nonce_text);
  REQUIRE(proof.size() == mac_size);
  CHECK(check_join_proof("tok", nonce_text, proof));
  CHECK_FALSE(check_join_proof("tok2", nonce_text, proof));
  CHECK_FALSE(check_join_proof("to", nonce_text, proof));
  auto other = make_nonce();
  CHECK_FALSE(
      check_join_proof("tok", std::string(other.begin(), other.end()), proof));
  CHECK_FALSE(check_join_proof("tok", nonce_text, proof.substr(1)));
  CHECK_FALSE(check_join_proof("tok", nonce_text, ""));
  CHECK(join_proof("", nonce_text).empty());
  CHECK_FALSE(check_join_proof("", nonce_text, join_proof("", nonce_text)));
}

TEST_CASE("failed joins: a budget per address and one for all, and bounded "
          "log lines",
          "[cluster][auth]") {
  using actorserve::detail::failure_limits;
  using actorserve::detail::log_budget;
  using clock = failure_limits::clock;
  auto t0 = clock::now();
  failure_limits limits;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(limits.admits("10.0.0.1", t0));
    limits.fail("10.0.0.1", t0);
  }
  CHECK_FALSE(limits.admits("10.0.0.1", t0));
  CHECK(limits.admits("10.0.0.2", t0)); // another address
  // One more failure allowed every 2 s.
  CHECK_FALSE(limits.admits("10.0.0.1", t0 + std::chrono::milliseconds(1900)));
  CHECK(limits.admits("10.0.0.1", t0 + std::chrono::milliseconds(2100)));
  // Many addresses at once: the budget for all of them holds.
  failure_limits all;
  int admitted = 0;
  for (int i = 0; i < 200; ++i) {
    auto addr = "10.1.0." + std::to_string(i);
    if (all.admits(addr, t0)) {
      ++admitted;
      all.fail(addr, t0);
    }
  }
  CHECK(admitted == 50);
  log_budget budget{5, std::chrono::seconds(10)};
  auto t1 = t0 + std::chrono::seconds(60);
  int written = 0;
  for (int i = 0; i < 20; ++i)
    written += budget.take(t1) ? 1 : 0;
  CHECK(written == 5);
  CHECK(budget.ended(t1 + std::chrono::seconds(9)) == 0);
  CHECK(budget.ended(t1 + std::chrono::seconds(10)) == 15);
  CHECK(budget.ended(t1 + std::chrono::seconds(11)) == 0);
  CHECK(budget.take(t1 + std::chrono::seconds(12)));
}
