#include "serve/admin_client.hpp"

#include <memory>

#include <asio.hpp>

#include "actorserve/error.hpp"

namespace actorserve::detail {

namespace {

/// One exchange on `ioc`: connect, write, read until the server closes.
struct exchange : std::enable_shared_from_this<exchange> {
  explicit exchange(asio::io_context& ioc) : sock(ioc), resolver(ioc) {}

  asio::ip::tcp::socket sock;
  asio::ip::tcp::resolver resolver;
  std::string request;
  std::string raw;
  char buf[8192];
  asio::error_code failed;
  bool done = false;

  void start(const admin_target& to) {
    auto self = shared_from_this();
    resolver.async_resolve(
        to.host, std::to_string(to.port),
        [self](const asio::error_code& ec,
               asio::ip::tcp::resolver::results_type eps) {
          if (ec)
            return self->finish(ec);
          asio::async_connect(self->sock, eps,
                              [self](const asio::error_code& ec2,
                                     const asio::ip::tcp::endpoint&) {
                                if (ec2)
                                  return self->finish(ec2);
                                self->write();
                              });
        });
  }

  void write() {
    auto self = shared_from_this();
    asio::async_write(sock, asio::buffer(request),
                      [self](const asio::error_code& ec, size_t) {
                        if (ec)
                          return self->finish(ec);
                        self->read();
                      });
  }

  void read() {
    auto self = shared_from_this();
    sock.async_read_some(asio::buffer(buf),
                         [self](const asio::error_code& ec, size_t n) {
                           self->raw.append(self->buf, n);
                           if (self->raw.size() > max_admin_reply_bytes)
                             return self->finish(asio::error::message_size);
                           if (ec == asio::error::eof)
                             return self->finish({});
                           if (ec)
                             return self->finish(ec);
                           self->read();
                         });
  }

  void finish(const asio::error_code& ec) {
    failed = ec;
    done = true;
  }
};

} // namespace

caf::expected<admin_reply> admin_call(const admin_target& to,
                                      const std::string& method,
                                      const std::string& path,
                                      const std::string& body) {
  auto where = to.host + ":" + std::to_string(to.port);
  asio::io_context ioc;
  auto x = std::make_shared<exchange>(ioc);
  x->request = method + " " + path + " HTTP/1.1\r\nHost: " + to.host +
               "\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n";
  if (!to.token.empty())
    x->request += "Authorization: Bearer " + to.token + "\r\n";
  x->request += "Connection: close\r\n\r\n" + body;
  x->start(to);
  ioc.run_for(to.timeout);
  if (!x->done)
    return make_error(errc::deadline_exceeded,
                      "the admin API at " + where + " did not answer within " +
                          std::to_string(to.timeout.count()) +
                          " ms (see --timeout-s)");
  if (x->failed)
    return make_error(errc::unavailable,
                      "cannot reach the admin API at " + where + ": " +
                          x->failed.message() +
                          " (is the server running? see --admin-port)");
  auto& raw = x->raw;
  auto head_end = raw.find("\r\n\r\n");
  if (raw.compare(0, 9, "HTTP/1.1 ") != 0 || head_end == std::string::npos ||
      raw.size() < 12)
    return make_error(errc::unavailable, "no HTTP answer from " + where);
  admin_reply r;
  for (size_t i = 9; i < 12; ++i) {
    if (raw[i] < '0' || raw[i] > '9')
      return make_error(errc::unavailable, "no HTTP answer from " + where);
    r.status = r.status * 10 + (raw[i] - '0');
  }
  r.body = raw.substr(head_end + 4);
  return r;
}

} // namespace actorserve::detail
