// A worker's way onto its head's cluster port: the challenge and response
// of auth.hpp on a socket of its own, then CAF's BASP on that socket.
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <caf/scoped_actor.hpp>

#include "actorserve/error.hpp"
#include "cluster/auth.hpp"
#include "cluster/cluster_impl.hpp"

namespace actorserve::detail {

namespace {

/// Connects within `timeout`: a blocking socket whose reads and writes
/// time out after `timeout` too; -1 with `why` otherwise.
int connect_to(const std::string& host, uint16_t port,
               std::chrono::milliseconds timeout, std::string& why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found)) {
    why = ::gai_strerror(rc);
    return -1;
  }
  int fd = -1;
  why = "no address";
  for (auto ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  0);
    if (fd < 0)
      continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = ETIMEDOUT;
      socklen_t len = sizeof(err);
      if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1)
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc != 0) {
      why = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0)
    return -1;
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  return fd;
}

bool write_all(int fd, const auth::bytes& buf) {
  size_t done = 0;
  while (done < buf.size()) {
    auto n = ::send(fd, buf.data() + done, buf.size() - done, MSG_NOSIGNAL);
    if (n <= 0 && errno != EINTR)
      return false;
    done += n > 0 ? static_cast<size_t>(n) : 0;
  }
  return true;
}

/// Reads exactly `n` bytes (never more: what follows belongs to BASP).
bool read_exact(int fd, auth::bytes& buf, size_t n) {
  buf.assign(n, 0);
  size_t done = 0;
  while (done < n) {
    auto got = ::recv(fd, buf.data() + done, n - done, 0);
    if (got == 0 || (got < 0 && errno != EINTR))
      return false;
    done += got > 0 ? static_cast<size_t>(got) : 0;
  }
  return true;
}

/// Runs the node's side of the handshake on `fd`; an error unless the head
/// admitted this node and proved the token itself.
caf::error prove(int fd, const std::string& token, const std::string& where) {
  auth::bytes msg;
  auth::nonce head_nonce{};
  if (!read_exact(fd, msg, auth::challenge_size))
    return make_error(errc::unavailable,
                      "the head at " + where + " sent no challenge");
  if (!auth::read_challenge(msg, head_nonce))
    return make_error(errc::unavailable,
                      where + " is not an actorserve cluster port");
  auth::nonce node_nonce{};
  if (!auth::fresh_nonce(node_nonce))
    return make_error(errc::unavailable, "this node has no random nonce");
  if (!write_all(fd, auth::make_answer(token, head_nonce, node_nonce)) ||
      !read_exact(fd, msg, auth::verdict_size))
    return make_error(errc::unavailable,
                      "the head at " + where + " gave no verdict");
  auto result = auth::check_verdict(token, head_nonce, node_nonce, msg);
  if (result == auth::outcome::admitted)
    return {};
  if (result == auth::outcome::malformed)
    return make_error(errc::unauthenticated,
                      "the head at " + where +
                          " did not prove the cluster token");
  return make_error(errc::unauthenticated, std::string{"the head refused "
                                                       "this node: "} +
                                               auth::to_string(result));
}

} // namespace

caf::expected<cluster_gate_actor>
dial_gate(caf::actor_system& sys, const std::string& token,
          const std::string& host, uint16_t port,
          std::chrono::milliseconds timeout) {
  auto where = host + ":" + std::to_string(port);
  std::string why;
  int fd = connect_to(host, port, timeout, why);
  if (fd < 0)
    return make_error(errc::unavailable, "cannot connect to " + where + ": " +
                                             why);
  if (auto err = prove(fd, token, where)) {
    ::close(fd);
    return err;
  }
  int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  // From here on the socket is BASP's: it writes the client handshake and
  // gets the head's node and gate.
  auto scribe = sys.middleman().backend().new_scribe(fd);
  auto basp =
      sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  caf::scoped_actor self{sys};
  caf::expected<cluster_gate_actor> result{caf::error{}};
  self->request(basp, timeout, caf::connect_atom_v, std::move(scribe), port)
      .receive(
          [&](caf::node_id&, caf::strong_actor_ptr& gate,
              std::set<std::string>& sigs) {
            if (!gate)
              result = make_error(errc::unavailable,
                                  "the head at " + where + " offers no gate");
            else if (!sys.assignable<cluster_gate_actor>(sigs))
              result = make_error(errc::unavailable,
                                  "the head at " + where +
                                      " speaks another cluster protocol");
            else
              result = caf::actor_cast<cluster_gate_actor>(std::move(gate));
          },
          [&](caf::error& err) {
            result = make_error(errc::unavailable, sys.render(err));
          });
  return result;
}

} // namespace actorserve::detail
