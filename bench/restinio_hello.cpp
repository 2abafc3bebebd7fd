// The ceiling: bare RESTinio answering inline on its own thread, with the
// same response the no-op deployment gives. Not part of the product.
//   restinio_hello [port] [threads]
#include <cstdlib>
#include <iostream>
#include <string>

#include <restinio/all.hpp>

int main(int argc, char** argv) {
  auto port = static_cast<uint16_t>(argc > 1 ? std::atoi(argv[1]) : 8100);
  auto threads = static_cast<size_t>(argc > 2 ? std::atoi(argv[2]) : 1);
  using traits = restinio::default_traits_t;
  restinio::run(restinio::on_thread_pool<traits>(threads)
                    .address("127.0.0.1")
                    .port(port)
                    .request_handler([](auto req) {
                      return req->create_response()
                          .append_header(restinio::http_field::content_type,
                                         "text/plain")
                          .append_header("X-Request-ID", "0")
                          .set_body("ok")
                          .done();
                    }));
  return 0;
}
