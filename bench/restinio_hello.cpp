// The ceiling: bare RESTinio answering inline on its I/O thread, with the
// responses the actorserve benchmark deployments give: "ok" for GET (the
// no-op), and the request body echoed back for POST (the echo chain). Not
// part of the product. With a certificate and key (PEM) it serves HTTPS,
// with the TLS settings actorserve's --tls-cert uses.
//   restinio_hello [port] [threads] [cert key]
#include <cstdlib>
#include <string>

#include <restinio/all.hpp>
#include <restinio/tls.hpp>

namespace {

template <class Settings>
Settings configure(Settings s, uint16_t port) {
  return std::move(s).address("127.0.0.1").port(port).request_handler(
      [](auto req) {
        auto echo = req->header().method() == restinio::http_method_post();
        return req->create_response()
            .append_header(restinio::http_field::content_type,
                           echo ? "application/octet-stream" : "text/plain")
            .append_header("X-Request-ID", "0")
            .set_body(echo ? req->body() : std::string{"ok"})
            .done();
      });
}

} // namespace

int main(int argc, char** argv) {
  auto port = static_cast<uint16_t>(argc > 1 ? std::atoi(argv[1]) : 8100);
  auto threads = static_cast<size_t>(argc > 2 ? std::atoi(argv[2]) : 1);
  if (argc > 4) {
    using traits = restinio::default_tls_traits_t;
    asio::ssl::context tls{asio::ssl::context::tls_server};
    tls.set_options(asio::ssl::context::default_workarounds |
                    asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 |
                    asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1 |
                    asio::ssl::context::no_compression |
                    asio::ssl::context::single_dh_use);
    tls.use_certificate_chain_file(argv[3]);
    tls.use_private_key_file(argv[4], asio::ssl::context::pem);
    restinio::run(configure(restinio::on_thread_pool<traits>(threads), port)
                      .tls_context(std::move(tls)));
    return 0;
  }
  using traits = restinio::default_traits_t;
  restinio::run(configure(restinio::on_thread_pool<traits>(threads), port));
  return 0;
}
