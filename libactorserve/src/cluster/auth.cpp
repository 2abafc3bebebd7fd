// The cluster's challenge and response (auth.hpp), on OpenSSL's HMAC.
#include "cluster/auth.hpp"

#include <algorithm>
#include <cstring>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace actorserve::detail::auth {

namespace {

constexpr char head_magic[] = "ASCLHEAD";
constexpr char node_magic[] = "ASCLNODE";
constexpr char node_label[] = "actorserve node";
constexpr char head_label[] = "actorserve head";
constexpr char join_label[] = "actorserve join";

using mac = std::array<uint8_t, mac_size>;

/// HMAC-SHA256(token, label || a || b).
mac hmac(const std::string& token, const char* label, const uint8_t* a,
         size_t a_len, const uint8_t* b, size_t b_len) {
  bytes msg(label, label + std::strlen(label));
  msg.insert(msg.end(), a, a + a_len);
  msg.insert(msg.end(), b, b + b_len);
  static const uint8_t no_key = 0;
  auto key = token.empty() ? static_cast<const void*>(&no_key)
                           : static_cast<const void*>(token.data());
  mac out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key, static_cast<int>(token.size()), msg.data(),
       msg.size(), out.data(), &len);
  return out;
}

bool same_mac(const mac& expected, const uint8_t* presented) noexcept {
  return CRYPTO_memcmp(expected.data(), presented, mac_size) == 0;
}

} // namespace

const char* to_string(outcome x) noexcept {
  switch (x) {
    case outcome::admitted:
      return "admitted";
    case outcome::wrong_token:
      return "wrong cluster token";
    case outcome::missing_token:
      return "missing cluster token";
    default:
      return "malformed cluster handshake";
  }
}

bool fresh_nonce(nonce& out) noexcept {
  return RAND_bytes(out.data(), static_cast<int>(out.size())) == 1;
}

bytes make_challenge(const nonce& head_nonce) {
  bytes out(head_magic, head_magic + magic_size);
  out.insert(out.end(), head_nonce.begin(), head_nonce.end());
  return out;
}

bool read_challenge(const bytes& challenge, nonce& head_nonce) {
  if (challenge.size() != challenge_size ||
      std::memcmp(challenge.data(), head_magic, magic_size) != 0)
    return false;
  std::copy_n(challenge.begin() + magic_size, nonce_size, head_nonce.begin());
  return true;
}

bytes make_answer(const std::string& token, const nonce& head_nonce,
                  const nonce& node_nonce) {
  bytes out(node_magic, node_magic + magic_size);
  out.push_back(token.empty() ? 0 : 1);
  out.insert(out.end(), node_nonce.begin(), node_nonce.end());
  auto m = hmac(token, node_label, head_nonce.data(), nonce_size,
                node_nonce.data(), nonce_size);
  out.insert(out.end(), m.begin(), m.end());
  return out;
}

outcome check_answer(const std::string& token, const nonce& head_nonce,
                     const bytes& answer, nonce& node_nonce) {
  if (answer.size() != answer_size ||
      std::memcmp(answer.data(), node_magic, magic_size) != 0)
    return outcome::malformed;
  auto flags = answer[magic_size];
  auto nn = answer.data() + magic_size + 1;
  std::copy_n(nn, nonce_size, node_nonce.begin());
  if (flags == 0)
    return outcome::missing_token;
  if (flags != 1)
    return outcome::malformed;
  auto expected = hmac(token, node_label, head_nonce.data(), nonce_size, nn,
                       nonce_size);
  return same_mac(expected, nn + nonce_size) ? outcome::admitted
                                             : outcome::wrong_token;
}

bytes make_verdict(const std::string& token, outcome result,
                   const nonce& head_nonce, const nonce& node_nonce) {
  bytes out{static_cast<uint8_t>(result)};
  mac m{};
  if (result == outcome::admitted)
    m = hmac(token, head_label, node_nonce.data(), nonce_size,
             head_nonce.data(), nonce_size);
  out.insert(out.end(), m.begin(), m.end());
  return out;
}

outcome check_verdict(const std::string& token, const nonce& head_nonce,
                      const nonce& node_nonce, const bytes& verdict) {
  if (verdict.size() != verdict_size)
    return outcome::malformed;
  auto result = static_cast<outcome>(verdict[0]);
  if (result == outcome::wrong_token || result == outcome::missing_token)
    return result;
  if (result != outcome::admitted)
    return outcome::malformed;
  auto expected = hmac(token, head_label, node_nonce.data(), nonce_size,
                       head_nonce.data(), nonce_size);
  return same_mac(expected, verdict.data() + 1) ? outcome::admitted
                                                : outcome::malformed;
}

std::string join_proof(const std::string& token, const std::string& nonce) {
  if (token.empty())
    return {};
  auto n = reinterpret_cast<const uint8_t*>(nonce.data());
  auto m = hmac(token, join_label, n, nonce.size(), nullptr, 0);
  return std::string(m.begin(), m.end());
}

bool check_join_proof(const std::string& token, const std::string& nonce,
                      const std::string& proof) {
  if (token.empty() || nonce.size() != nonce_size ||
      proof.size() != mac_size)
    return false;
  auto n = reinterpret_cast<const uint8_t*>(nonce.data());
  auto expected = hmac(token, join_label, n, nonce.size(), nullptr, 0);
  return same_mac(expected, reinterpret_cast<const uint8_t*>(proof.data()));
}

} // namespace actorserve::detail::auth
