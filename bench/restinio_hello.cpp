// The ceiling: bare RESTinio answering inline on its I/O thread, with the
// responses the actorserve benchmark deployments give: "ok" for GET (the
// no-op), and the request body echoed back for POST (the echo chain). Not
// part of the product.
//   restinio_hello [port] [threads]
#include <cstdlib>
#include <string>

#include <restinio/all.hpp>

int main(int argc, char** argv) {
  auto port = static_cast<uint16_t>(argc > 1 ? std::atoi(argv[1]) : 8100);
  auto threads = static_cast<size_t>(argc > 2 ? std::atoi(argv[2]) : 1);
  using traits = restinio::default_traits_t;
  restinio::run(
      restinio::on_thread_pool<traits>(threads)
          .address("127.0.0.1")
          .port(port)
          .request_handler([](auto req) {
            auto echo = req->header().method() == restinio::http_method_post();
            return req->create_response()
                .append_header(restinio::http_field::content_type,
                               echo ? "application/octet-stream" : "text/plain")
                .append_header("X-Request-ID", "0")
                .set_body(echo ? req->body() : std::string{"ok"})
                .done();
          }));
  return 0;
}
