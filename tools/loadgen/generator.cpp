// The epoll loop: connections, writes, reads, timeouts.
#include "generator.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

namespace loadgen {

void load_generator::watch(size_t c, uint32_t events) {
  auto& conn = conns_[c];
  if (conn.events == events)
    return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = c;
  int op = conn.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (epoll_ctl(epoll_.get(), op, conn.fd.get(), &ev) != 0)
    throw fatal_error(errno_text("epoll_ctl"));
  conn.events = events;
}

void load_generator::start_connect(size_t c) {
  auto& conn = conns_[c];
  conn.fd =
      unique_fd{socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (!conn.fd.valid())
    throw fatal_error(errno_text("socket"));
  conn.events = 0;
  conn.in.clear();
  int one = 1;
  setsockopt(conn.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(opts_.url.port);
  addr.sin_addr = opts_.url.address;
  conn.st = connection::state::connecting;
  if (connect(conn.fd.get(), reinterpret_cast<sockaddr*>(&addr),
              sizeof(addr)) != 0 &&
      errno != EINPROGRESS)
    throw std::runtime_error(errno_text("connect"));
  // Completion (or failure) shows as writability either way.
  watch(c, EPOLLOUT);
}

void load_generator::open_pool() {
  for (size_t c = 0; c < conns_.size(); ++c) {
    try {
      start_connect(c);
    } catch (const fatal_error&) {
      throw;
    } catch (const std::runtime_error& e) {
      throw fatal_error(e.what());
    }
  }
  auto deadline = now_ns() + seconds_to_ns(opts_.timeout);
  size_t pending = conns_.size();
  std::vector<epoll_event> events(64);
  while (pending > 0) {
    auto left_ms = (deadline - now_ns()) / 1'000'000;
    if (left_ms <= 0)
      throw fatal_error("timed out opening the connections");
    int n =
        epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                   static_cast<int>(left_ms));
    if (n < 0 && errno != EINTR)
      throw fatal_error(errno_text("epoll_wait"));
    for (int k = 0; k < n; ++k) {
      auto c = static_cast<size_t>(events[static_cast<size_t>(k)].data.u64);
      if (c == timer_key || conns_[c].st != connection::state::connecting)
        continue;
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(conns_[c].fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0)
        throw fatal_error(errno_text("connect", err));
      conns_[c].st = connection::state::idle;
      watch(c, EPOLLIN);
      free_.push_back(c);
      --pending;
    }
  }
}

void load_generator::arm_timer(int64_t at) {
  if (at == armed_at_)
    return;
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(at / ns_per_s);
  spec.it_value.tv_nsec = static_cast<long>(at % ns_per_s);
  if (timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) != 0)
    throw fatal_error(errno_text("timerfd_settime"));
  armed_at_ = at;
}

void load_generator::report(size_t c, const std::string& why) {
  if (reported_ < max_reported_errors)
    std::fprintf(stderr, "loadgen: connection %zu: %s\n", c, why.c_str());
  else if (reported_ == max_reported_errors)
    std::fprintf(stderr, "loadgen: (further errors not shown)\n");
  ++reported_;
}

void load_generator::release_due(int64_t now) {
  while (next_release_ < sched_.total && sched_.intended(next_release_) <= now)
    waiting_.push_back(next_release_++);
}

void load_generator::dispatch() {
  while (!waiting_.empty() && !free_.empty()) {
    auto c = free_.front();
    free_.pop_front();
    auto i = waiting_.front();
    waiting_.pop_front();
    assign(c, i);
  }
}

void load_generator::assign(size_t c, int64_t i) {
  auto& conn = conns_[c];
  conn.request = i;
  conn.written = 0;
  conn.parser.reset();
  conn.cut = plan_cut(opts_.seed, i, opts_.cut,
                      static_cast<int64_t>(opts_.cut_max_ms * 1e6),
                      request_of(i).size());
  ++in_flight_;
  if (conn.st == connection::state::closed) {
    try {
      start_connect(c); // writes once connected
    } catch (const fatal_error&) {
      throw;
    } catch (const std::runtime_error& e) {
      fail(c, connect_failed, e.what());
    }
    return;
  }
  conn.st = connection::state::busy;
  ++tally_of(i).sent;
  begin(c);
}

void load_generator::begin(size_t c) {
  auto& conn = conns_[c];
  if (conn.cut.cut && !conn.cut.by_bytes)
    cuts_.emplace(now_ns() + conn.cut.after_ns, c, conn.request);
  write_some(c);
}

void load_generator::cut(size_t c) {
  auto& conn = conns_[c];
  end(conn.request, cut_by_us, now_ns());
  conn.request = -1;
  --in_flight_;
  if (conn.cut.rst) {
    linger lg{1, 0}; // close() sends a reset
    setsockopt(conn.fd.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  close(c);
}

void load_generator::fire_cuts(int64_t now) {
  while (!cuts_.empty() && std::get<0>(cuts_.top()) <= now) {
    auto [at, c, i] = cuts_.top();
    cuts_.pop();
    if (conns_[c].request == i && conns_[c].st == connection::state::busy)
      cut(c); // else it ended before its cut
  }
}

int64_t load_generator::next_wakeup(int64_t deadline) const {
  auto at = next_release_ < sched_.total ? sched_.intended(next_release_)
                                         : deadline;
  if (!cuts_.empty())
    at = std::min(at, std::get<0>(cuts_.top()));
  return at;
}

void load_generator::on_connected(size_t c) {
  auto& conn = conns_[c];
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(conn.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0)
    return fail(c, connect_failed, errno_text("reconnect", err));
  conn.st = connection::state::busy;
  ++tally_of(conn.request).sent;
  begin(c);
}

void load_generator::write_some(size_t c) {
  auto& conn = conns_[c];
  auto& request = request_of(conn.request);
  auto limit = conn.cut.by_bytes ? std::min(conn.cut.bytes, request.size())
                                 : request.size();
  while (conn.written < limit) {
    auto n = send(conn.fd.get(), request.data() + conn.written,
                  limit - conn.written, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        watch(c, EPOLLIN | EPOLLOUT);
        return;
      }
      if (errno == EINTR)
        continue;
      return fail(c, write_failed, errno_text("write"));
    }
    conn.written += static_cast<size_t>(n);
  }
  if (conn.cut.by_bytes)
    return cut(c); // part of the request went out, the rest never will
  watch(c, EPOLLIN);
}

void load_generator::read_some(size_t c) {
  auto& conn = conns_[c];
  char buf[64 * 1024];
  for (;;) {
    auto n = recv(conn.fd.get(), buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      if (conn.request < 0)
        return close(c); // an idle connection went away
      return fail(c, reset, errno_text("read"));
    }
    if (n == 0) {
      if (conn.request < 0)
        return close(c); // the server closed an idle connection
      if (conn.parser.on_eof() == response_parser::result::done)
        return complete(c);
      return fail(c, closed, conn.parser.error());
    }
    if (conn.request < 0) {
      book_.unsolicited();
      report(c, "unsolicited data from the server");
      return close(c);
    }
    conn.in.append(buf, static_cast<size_t>(n));
    size_t pos = 0;
    auto res = conn.parser.feed(conn.in, pos);
    conn.in.erase(0, pos);
    if (res == response_parser::result::failed)
      return fail(c, bad_response, "bad response: " + conn.parser.error());
    if (res == response_parser::result::done)
      return complete(c);
  }
}

void load_generator::complete(size_t c) {
  auto& conn = conns_[c];
  auto now = now_ns();
  auto i = conn.request;
  auto& t = tally_of(i);
  end(i, conn.parser.status(), now);
  if (conn.parser.status() >= 200 && conn.parser.status() < 300)
    ++t.ok;
  else
    ++t.non2xx;
  if (sched_.measured(i)) {
    samples_.push_back((now - sched_.intended(i)) / 1000);
    last_done_ = now;
  }
  conn.request = -1;
  --in_flight_;
  bool leftover = !conn.in.empty();
  if (leftover) {
    book_.unsolicited();
    report(c, "unsolicited data after a response");
  }
  if (conn.parser.closes() || leftover) {
    close(c);
  } else {
    conn.st = connection::state::idle;
    free_.push_back(c);
  }
}

void load_generator::fail(size_t c, int code, const std::string& why) {
  auto& conn = conns_[c];
  report(c, why);
  if (conn.request >= 0) {
    ++tally_of(conn.request).errors;
    end(conn.request, code, now_ns());
    conn.request = -1;
    --in_flight_;
  }
  close(c);
}

void load_generator::close(size_t c) {
  auto& conn = conns_[c];
  if (conn.st == connection::state::closed)
    return;
  bool was_free = conn.st == connection::state::idle;
  conn.fd.reset(); // also removes it from epoll
  conn.events = 0;
  conn.in.clear();
  conn.st = connection::state::closed;
  if (!was_free)
    free_.push_back(c); // the next request reopens it
}

void load_generator::on_event(size_t c, uint32_t events) {
  auto& conn = conns_[c];
  if (!conn.fd.valid())
    return; // closed by an earlier event in the same batch
  if (conn.st == connection::state::connecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
      on_connected(c);
    return;
  }
  if ((events & EPOLLOUT) && conn.request >= 0 &&
      conn.written < request_of(conn.request).size()) {
    write_some(c);
    if (!conn.fd.valid())
      return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
    read_some(c);
}

void load_generator::run() {
  sched_.t0 = now_ns();
  auto stop = sched_.t0 + seconds_to_ns(opts_.warmup + opts_.duration);
  auto deadline = stop + seconds_to_ns(opts_.timeout);
  std::vector<epoll_event> events(256);
  for (;;) {
    auto now = now_ns();
    release_due(now);
    fire_cuts(now);
    dispatch();
    if (!outstanding() || now >= deadline)
      break;
    arm_timer(next_wakeup(deadline));
    int n = epoll_wait(epoll_.get(), events.data(),
                       static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw fatal_error(errno_text("epoll_wait"));
    }
    for (int k = 0; k < n; ++k) {
      auto& ev = events[static_cast<size_t>(k)];
      if (ev.data.u64 == timer_key) {
        uint64_t expirations = 0;
        auto r = read(timer_.get(), &expirations, sizeof(expirations));
        (void)r; // EAGAIN after a re-arm is fine
        armed_at_ = -1;
      } else {
        on_event(static_cast<size_t>(ev.data.u64), ev.events);
      }
    }
  }
  // Whatever is still waiting or in flight has timed out.
  auto now = now_ns();
  for (auto i : waiting_) {
    ++tally_of(i).timeouts;
    end(i, timed_out, now);
  }
  waiting_.clear();
  for (size_t c = 0; c < conns_.size(); ++c) {
    if (conns_[c].request >= 0) {
      ++tally_of(conns_[c].request).timeouts;
      end(conns_[c].request, timed_out, now);
      conns_[c].request = -1;
    }
    conns_[c].fd.reset();
  }
  in_flight_ = 0;
}

} // namespace loadgen
