/// @file
/// A shard's listener: plain HTTP, or HTTPS when the server has a TLS
/// context. The one file that includes RESTinio's TLS support (and asio's
/// ssl headers), and that knows the two server types.
#include <sys/socket.h>

#include <restinio/all.hpp>
#include <restinio/tls.hpp>

#include "ingress/body_limit.hpp"
#include "ingress/shard.hpp"

namespace actorserve::detail {

namespace {

using reuse_port =
    asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// Each shard runs on exactly one thread, and every response is written from
// it: no strand is needed.
// The method mapper answers an oversized body with 413 before reading it
// (body_limit.hpp); the connection count limiter caps open connections.
struct plain_traits : restinio::default_single_thread_traits_t {
  using connection_state_listener_t = connection_listener;
  using http_methods_mapper_t = early_413_methods;
  static constexpr bool use_connection_count_limiter = true;
};

struct tls_traits
    : restinio::single_thread_tls_traits_t<restinio::asio_timer_manager_t,
                                           restinio::null_logger_t> {
  using connection_state_listener_t = connection_listener;
  using http_methods_mapper_t = early_413_methods;
  static constexpr bool use_connection_count_limiter = true;
};

/// The handshake bound of the server whose shard runs on this thread
/// (set in `listen`, before the thread serves connections; each shard's
/// io_context runs on its own thread only).
thread_local std::chrono::milliseconds handshake_bound{10'000};

template <class Traits>
class listener_of final : public listener {
public:
  using server_type = restinio::http_server_t<Traits>;

  listener_of(asio::io_context& ioc, restinio::server_settings_t<Traits> s)
      : server_(restinio::external_io_context(ioc), std::move(s)) {
    server_.open_sync();
  }

  void close_sync() override {
    server_.close_sync();
  }

private:
  server_type server_;
};

/// RESTinio starts its timeouts only once a TLS handshake is done, so a
/// client that connects and never finishes it would hold its connection
/// (and a share of `--max-connections`) for good. This overload, found by
/// argument-dependent lookup for our TLS connections only (it is more
/// specialized than RESTinio's), bounds the handshake: when the bound
/// passes first, the socket closes and the handshake fails.
template <class Start, class Failed>
void prepare_connection_and_start_read(
    restinio::tls_socket_t& socket,
    restinio::impl::connection_t<tls_traits>& con, Start start,
    Failed failed) {
  auto timer = std::make_shared<asio::steady_timer>(socket.get_executor(),
                                                    handshake_bound);
  std::weak_ptr<void> alive = con.shared_from_this();
  timer->async_wait([alive, &socket](const asio::error_code& ec) {
    if (ec || alive.expired())
      return;
    asio::error_code ignored;
    socket.close(ignored);
  });
  restinio::prepare_connection_and_start_read(
      socket, con,
      [timer, start = std::move(start)] {
        timer->cancel();
        start();
      },
      [timer, failed = std::move(failed)](const asio::error_code& ec) {
        timer->cancel();
        failed(ec);
      });
}

template <class Traits>
restinio::server_settings_t<Traits> settings_of(ingress_shard& shard,
                                                uint16_t port) {
  auto& o = shard.owner.opts;
  using duration = clock_type::duration;
  auto handling = o.request_timeout.count() > 0
                      ? std::chrono::duration_cast<duration>(
                            o.request_timeout + std::chrono::seconds(10))
                      : std::chrono::duration_cast<duration>(
                            std::chrono::hours(24));
  return restinio::server_settings_t<Traits>{}
      .address(o.host)
      .port(port)
      .request_handler([&shard](auto req) { return shard.handle_guarded(req); })
      .incoming_http_msg_limits(restinio::incoming_http_msg_limits_t{}
                                    .max_url_size(o.max_url_bytes)
                                    .max_field_value_size(o.max_header_bytes)
                                    .max_field_count(o.max_header_count)
                                    .max_body_size(o.max_body_bytes))
      .handle_request_timeout(handling)
      // Read on while a request runs, so that a client that goes away
      // is noticed (connection_listener) and its request cancelled.
      .max_pipelined_requests(o.max_pipelined_requests)
      .max_parallel_connections(shard.connection_share())
      .connection_state_listener(std::make_shared<connection_listener>(shard))
      .read_next_http_message_timelimit(
          std::chrono::duration_cast<duration>(o.keep_alive_timeout))
      .acceptor_options_setter([](restinio::acceptor_options_t& opts) {
        opts.set_option(asio::ip::tcp::acceptor::reuse_address(true));
        opts.set_option(reuse_port(true));
      })
      .acceptor_post_bind_hook([&shard](asio::ip::tcp::acceptor& acceptor) {
        if (shard.index == 0)
          shard.owner.port = acceptor.local_endpoint().port();
      });
}

} // namespace

std::unique_ptr<listener> ingress_shard::listen(uint16_t port) {
  if (!owner.tls)
    return std::make_unique<listener_of<plain_traits>>(
        ioc, settings_of<plain_traits>(*this, port));
  auto settings = settings_of<tls_traits>(*this, port);
  settings.tls_context(owner.tls);
  asio::post(ioc, [bound = owner.opts.tls_handshake_timeout] {
    handshake_bound = bound;
  });
  return std::make_unique<listener_of<tls_traits>>(ioc, std::move(settings));
}

} // namespace actorserve::detail
