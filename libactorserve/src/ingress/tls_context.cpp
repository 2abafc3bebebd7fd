#include "ingress/tls_context.hpp"

#include <asio/ssl.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "actorserve/error.hpp"

namespace actorserve::detail {

namespace {

/// OpenSSL's reason for the last failure, or asio's message.
std::string reason_of(const asio::error_code& ec) {
  auto code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0)
    return ec.message();
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

caf::error bad_file(const std::string& flag, const std::string& file,
                    const std::string& what, const asio::error_code& ec) {
  return make_error(errc::invalid_config, "flag " + flag + ": cannot use " +
                                              file + " as " + what + ": " +
                                              reason_of(ec));
}

} // namespace

caf::expected<std::shared_ptr<asio::ssl::context>>
load_tls_context(const std::string& cert_file, const std::string& key_file,
                 const std::string& flag_prefix) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  asio::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds |
                       asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 |
                       asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 |
                       asio::ssl::context::no_compression |
                       asio::ssl::context::single_dh_use,
                   ec);
  if (ec)
    return make_error(errc::invalid_config,
                      "TLS: cannot set up a context: " + reason_of(ec));
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec)
    return bad_file(flag_prefix + "-cert", cert_file,
                    "a PEM certificate chain", ec);
  ctx->use_private_key_file(key_file, asio::ssl::context::pem, ec);
  if (ec)
    return bad_file(flag_prefix + "-key", key_file, "a PEM private key", ec);
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return bad_file(flag_prefix + "-key", key_file,
                    "the key of " + cert_file, ec);
  // Resuming sessions saves a round trip for returning clients.
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_SERVER);
  return ctx;
}

} // namespace actorserve::detail
