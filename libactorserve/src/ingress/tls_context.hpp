/// @file
/// The TLS context of a server port (private to the library; only the
/// files that open TLS listeners include asio's ssl headers).
#pragma once

#include <memory>
#include <string>

#include <caf/expected.hpp>

namespace asio::ssl {
class context;
} // namespace asio::ssl

namespace actorserve::detail {

/// A server context from a PEM certificate chain and its private key:
/// TLS 1.2 and later, no compression, the key checked against the
/// certificate. Errors are `invalid_config` naming the flag and file.
caf::expected<std::shared_ptr<asio::ssl::context>>
load_tls_context(const std::string& cert_file, const std::string& key_file,
                 const std::string& flag_prefix);

} // namespace actorserve::detail
