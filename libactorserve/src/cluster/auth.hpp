/// @file
/// The cluster's challenge and response (private to the library): how a
/// node and its head prove to each other that they hold the cluster token
/// without sending it.
///
/// On every connection to the head's cluster port, before any CAF byte:
///
/// | step | from | bytes |
/// |---|---|---|
/// | challenge | head | magic "ASCLHEAD" (8), head nonce Nh (32) |
/// | answer | node | magic "ASCLNODE" (8), flags (1; bit 0: it has a token), node nonce Nn (32), HMAC-SHA256(token, "actorserve node" Nh Nn) (32) |
/// | verdict | head | outcome (1; 0 admitted, 1 wrong token, 2 missing token), HMAC-SHA256(token, "actorserve head" Nn Nh) when admitted, zeros otherwise (32) |
///
/// Every message has a fixed size, and MACs are compared with
/// `CRYPTO_memcmp` over their full fixed length. Nonces come from OpenSSL's
/// `RAND_bytes`, fresh per connection, so an answer recorded on one
/// connection is worth nothing on the next. The node checks the head's
/// proof too: a head without the token gets no CAF handshake from it.
///
/// The same MAC proves a join to the gate (`join_challenge_atom`), over the
/// gate's nonce (`join_proof`).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace actorserve::detail::auth {

inline constexpr size_t magic_size = 8;
inline constexpr size_t nonce_size = 32;
inline constexpr size_t mac_size = 32;
inline constexpr size_t challenge_size = magic_size + nonce_size;
inline constexpr size_t answer_size = magic_size + 1 + nonce_size + mac_size;
inline constexpr size_t verdict_size = 1 + mac_size;

using nonce = std::array<uint8_t, nonce_size>;
using bytes = std::vector<uint8_t>;

/// How a handshake ended, as the head decides it and the node reads it.
enum class outcome : uint8_t {
  admitted = 0,
  wrong_token = 1,
  missing_token = 2,
  /// Bytes of the wrong size or kind, or a head whose proof fails.
  malformed = 3,
};

/// "wrong cluster token", "missing cluster token", ...
const char* to_string(outcome x) noexcept;

/// A fresh random nonce (OpenSSL's RAND_bytes); false when it has none.
bool fresh_nonce(nonce& out) noexcept;

/// The head's first message.
bytes make_challenge(const nonce& head_nonce);

/// Reads a challenge; false unless it is one.
bool read_challenge(const bytes& challenge, nonce& head_nonce);

/// The node's answer to `head_nonce` with its own `node_nonce`.
bytes make_answer(const std::string& token, const nonce& head_nonce,
                  const nonce& node_nonce);

/// The head's check of an answer to its `head_nonce`; sets `node_nonce`.
outcome check_answer(const std::string& token, const nonce& head_nonce,
                     const bytes& answer, nonce& node_nonce);

/// The head's verdict; with `admitted`, its own proof of the token.
bytes make_verdict(const std::string& token, outcome result,
                   const nonce& head_nonce, const nonce& node_nonce);

/// The node's reading of a verdict: `admitted` only with a valid proof of
/// the head's, `malformed` for a bad proof or bytes.
outcome check_verdict(const std::string& token, const nonce& head_nonce,
                      const nonce& node_nonce, const bytes& verdict);

/// A node's proof of a join to the gate: HMAC-SHA256(token, "actorserve
/// join" nonce); empty without a token.
std::string join_proof(const std::string& token, const std::string& nonce);

/// Whether `proof` proves the token over `nonce` (constant time; false for
/// any other length).
bool check_join_proof(const std::string& token, const std::string& nonce,
                      const std::string& proof);

} // namespace actorserve::detail::auth
