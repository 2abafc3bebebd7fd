// The head's front on its cluster port (front.hpp).
#include "cluster/front.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>
#include <caf/send.hpp>

#include "ops/logging.hpp"
#include "actorserve/error.hpp"
#include "cluster/auth.hpp"
#include "cluster/front_limits.hpp"

namespace actorserve::detail {

namespace {

using clock = std::chrono::steady_clock;

/// One connection in its handshake.
struct pending {
  int fd = -1;
  std::string addr; // the source address
  std::string peer; // address and port, for the log
  auth::nonce head_nonce{};
  auth::bytes out; // to write: the challenge, then the verdict
  size_t written = 0;
  auth::bytes in; // the answer so far
  bool answered = false;
  auth::outcome result = auth::outcome::malformed;
  clock::time_point deadline;
};

void source_of(const sockaddr_storage& sa, std::string& addr,
               std::string& peer) {
  char host[NI_MAXHOST] = "?";
  char serv[NI_MAXSERV] = "?";
  ::getnameinfo(reinterpret_cast<const sockaddr*>(&sa), sizeof(sa), host,
                sizeof(host), serv, sizeof(serv),
                NI_NUMERICHOST | NI_NUMERICSERV);
  addr = host;
  peer = addr + ":" + serv;
}

/// A non-blocking listening socket on host:port; `actual` is its port.
caf::expected<int> listen_on(const std::string& host, uint16_t port,
                             uint16_t& actual) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found))
    return make_error(errc::unavailable, ::gai_strerror(rc));
  std::string why = "no address";
  int fd = -1;
  for (auto ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  0);
    int on = 1;
    if (fd >= 0 &&
        (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
         ::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
         ::listen(fd, 128) != 0)) {
      why = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0)
    return make_error(errc::unavailable, why);
  sockaddr_storage sa{};
  socklen_t len = sizeof(sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  actual = ntohs(sa.ss_family == AF_INET6
                     ? reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
  return fd;
}

} // namespace

struct cluster_front::loop {
  loop(caf::actor_system& sys, settings cfg, caf::strong_actor_ptr gate,
       std::set<std::string> sigs, int listener, int wake, uint16_t port)
      : sys(sys), cfg(std::move(cfg)), gate(std::move(gate)),
        sigs(std::move(sigs)), listener(listener), wake(wake), port(port) {
    basp = sys.middleman().named_broker<caf::io::basp_broker>(
        caf::atom("BASP"));
  }

  caf::actor_system& sys;
  settings cfg;
  caf::strong_actor_ptr gate;
  std::set<std::string> sigs;
  caf::actor basp;
  int listener;
  int wake;
  uint16_t port;
  std::vector<pending> conns;
  failure_limits limits;
  log_budget budget{5, std::chrono::seconds(10)};

  void log_refusal(const std::string& peer, const std::string& why,
                   clock::time_point now) {
    if (budget.take(now))
      log_line{log_level::warning}
          << "refused a node joining from " << peer << ": " << why;
  }

  /// Counts a failed handshake and logs it (within the budget).
  void fail(pending& c, const std::string& why, clock::time_point now) {
    limits.fail(c.addr, now);
    log_refusal(c.peer, why, now);
  }

  /// Closes `c` as failed; false (it is done).
  bool refuse(pending& c, const std::string& why, clock::time_point now) {
    fail(c, why, now);
    ::close(c.fd);
    return false;
  }

  /// Gives an admitted connection to BASP, which offers it the gate.
  void hand_on(pending& c) {
    int on = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    auto scribe = sys.middleman().backend().new_scribe(c.fd);
    caf::anon_send(basp, caf::publish_atom::value, std::move(scribe), port,
                   gate, sigs);
  }

  bool on_writable(pending& c, clock::time_point now) {
    auto n = ::send(c.fd, c.out.data() + c.written, c.out.size() - c.written,
                    MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return true;
      if (!c.answered) // counted already otherwise
        return refuse(c, "the connection failed", now);
      ::close(c.fd);
      return false;
    }
    c.written += static_cast<size_t>(n);
    if (c.written < c.out.size())
      return true;
    if (!c.answered) { // the challenge is out: wait for the answer
      c.out.clear();
      c.written = 0;
      return true;
    }
    if (c.result == auth::outcome::admitted)
      hand_on(c);
    else
      ::close(c.fd);
    return false;
  }

  bool on_readable(pending& c, clock::time_point now) {
    uint8_t buf[auth::answer_size];
    // Never past the answer: what follows belongs to BASP.
    auto n = ::recv(c.fd, buf, auth::answer_size - c.in.size(), 0);
    if (n == 0)
      return refuse(c, "it closed the connection before answering", now);
    if (n < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                 ? true
                 : refuse(c, "the connection failed", now);
    c.in.insert(c.in.end(), buf, buf + n);
    if (c.in.size() < auth::answer_size)
      return true;
    auth::nonce node_nonce{};
    c.result = auth::check_answer(cfg.token, c.head_nonce, c.in, node_nonce);
    if (c.result == auth::outcome::malformed)
      return refuse(c, auth::to_string(c.result), now);
    if (c.result != auth::outcome::admitted)
      fail(c, auth::to_string(c.result), now);
    c.out = auth::make_verdict(cfg.token, c.result, c.head_nonce, node_nonce);
    c.answered = true;
    return true;
  }

  void accept_all(clock::time_point now) {
    for (;;) {
      sockaddr_storage sa{};
      socklen_t len = sizeof(sa);
      int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&sa), &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        return; // EAGAIN, or out of descriptors until one closes
      pending c;
      c.fd = fd;
      source_of(sa, c.addr, c.peer);
      const char* why = nullptr;
      auto same = std::count_if(conns.begin(), conns.end(), [&](auto& x) {
        return x.addr == c.addr;
      });
      if (conns.size() >= cfg.max_pending ||
          static_cast<size_t>(same) >= cfg.max_pending_per_address)
        why = "too many handshakes under way";
      else if (!limits.admits(c.addr, now))
        why = "too many failed joins (rate-limited)";
      else if (!auth::fresh_nonce(c.head_nonce))
        why = "no random nonce";
      if (why != nullptr) {
        log_refusal(c.peer, why, now);
        ::close(fd);
        continue;
      }
      c.out = auth::make_challenge(c.head_nonce);
      c.deadline = now + cfg.handshake_timeout;
      conns.push_back(std::move(c));
    }
  }

  /// Fails the connections past their deadline; the time to the next one.
  int expire(clock::time_point now) {
    auto next = now + std::chrono::seconds(1);
    for (size_t i = conns.size(); i-- > 0;) {
      if (conns[i].deadline <= now) {
        if (conns[i].answered) // its verdict is counted already
          ::close(conns[i].fd);
        else
          refuse(conns[i],
                 "no answer within " +
                     std::to_string(cfg.handshake_timeout.count()) + " ms",
                 now);
        conns[i] = std::move(conns.back());
        conns.pop_back();
      } else {
        next = std::min(next, conns[i].deadline);
      }
    }
    if (auto n = budget.ended(now))
      log_line{log_level::warning}
          << "refused " << n << " more connection(s) on the cluster port "
          << "(not logged one by one)";
    using std::chrono::milliseconds;
    return static_cast<int>(
        std::chrono::ceil<milliseconds>(next - now).count());
  }

  void run() {
    std::vector<pollfd> fds;
    for (;;) {
      auto timeout = expire(clock::now());
      fds.assign({pollfd{wake, POLLIN, 0}, pollfd{listener, POLLIN, 0}});
      for (auto& c : conns)
        fds.push_back(
            pollfd{c.fd, short(c.written < c.out.size() ? POLLOUT : POLLIN),
                   0});
      if (::poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR)
        break;
      if (fds[0].revents != 0)
        break; // stop()
      auto now = clock::now();
      for (size_t i = conns.size(); i-- > 0;) {
        auto events = fds[i + 2].revents;
        if (events == 0)
          continue;
        bool keep = (fds[i + 2].events & POLLOUT) != 0
                        ? on_writable(conns[i], now)
                        : on_readable(conns[i], now);
        if (!keep) {
          conns[i] = std::move(conns.back());
          conns.pop_back();
        }
      }
      if ((fds[1].revents & POLLIN) != 0)
        accept_all(now);
    }
    for (auto& c : conns)
      ::close(c.fd);
    conns.clear();
  }
};

caf::expected<std::shared_ptr<cluster_front>>
cluster_front::start(caf::actor_system& sys, settings cfg,
                     caf::strong_actor_ptr gate, std::set<std::string> sigs) {
  uint16_t actual = 0;
  auto fd = listen_on(cfg.host, cfg.port, actual);
  if (!fd)
    return std::move(fd.error());
  int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    ::close(*fd);
    return make_error(errc::unavailable, std::strerror(errno));
  }
  std::shared_ptr<cluster_front> self{new cluster_front};
  self->listener_ = *fd;
  self->wake_ = wake;
  self->port_ = actual;
  auto state = std::make_shared<loop>(sys, std::move(cfg), std::move(gate),
                                      std::move(sigs), *fd, wake, actual);
  self->thread_ = std::thread([state] { state->run(); });
  return self;
}

void cluster_front::stop() {
  if (stopped_.exchange(true))
    return;
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_, &one, sizeof(one));
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id())
      thread_.detach();
    else
      thread_.join();
  }
  ::close(listener_);
  ::close(wake_);
}

cluster_front::~cluster_front() {
  stop();
}

} // namespace actorserve::detail
