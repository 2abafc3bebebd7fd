/// @file
/// A peer that is no node: CAF's BASP on a raw socket, without the cluster
/// token, sent to whatever port it is given.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <set>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/exit_reason.hpp>
#include <caf/io/basp/header.hpp>
#include <caf/io/basp/message_type.hpp>
#include <caf/make_message.hpp>
#include <caf/node_id.hpp>
#include <caf/system_messages.hpp>

#include "actorserve/messages.hpp"
#include "http_client.hpp"

namespace test {

struct basp_peer {
  using buffer = std::vector<char>;
  using message_type = caf::io::basp::message_type;

  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};

  /// What one attack saw and did.
  struct outcome {
    /// The port answered with a BASP server handshake.
    bool handshake = false;
    /// The actor it offered there (0: none), and its node.
    uint64_t offered = 0;
    caf::node_id node;
    /// The node its messages were routed to as well.
    caf::node_id routed;
    /// Frames written before the port closed.
    size_t sent = 0;
  };

  /// Connects to `port`, reads the server's BASP handshake if it sends one,
  /// answers it, and sends every actor id in 1..n the messages that would
  /// hurt most: exit (kill), shutdown and delete. With `route_pid` set, it
  /// sends them routed through the port's node to that process on the same
  /// host (a CAF node id is the host's hash and the process id) too.
  outcome attack(uint16_t port, uint64_t n, pid_t route_pid = 0) {
    outcome out;
    int fd = test::connect_loopback(port);
    REQUIRE(fd >= 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    read_handshake(fd, out);
    if (out.node && route_pid != 0) {
      auto text = caf::to_string(out.node);
      if (auto id = caf::make_node_id(static_cast<uint32_t>(route_pid),
                                      text.substr(0, text.find('#'))))
        out.routed = *id;
    }
    auto& via = out.routed;
    buffer hello;
    caf::binary_serializer{sys, hello}(sys.node());
    bool open = frame(fd, message_type::client_handshake, 0, hello);
    for (uint64_t id = 1; open && id <= n; ++id)
      for (auto& msg : messages())
        if ((open = frame(fd, message_type::direct_message, id,
                          payload({}, {}, msg))))
          ++out.sent;
    for (uint64_t id = 1; open && via && id <= n; ++id)
      for (auto& msg : messages())
        if ((open = frame(fd, message_type::routed_message, id,
                          payload(sys.node(), via, msg))))
          ++out.sent;
    ::shutdown(fd, SHUT_WR);
    drain(fd);
    ::close(fd);
    return out;
  }

private:
  std::vector<caf::message> messages() {
    return {caf::make_message(
                caf::exit_msg{caf::actor_addr{}, caf::exit_reason::kill}),
            caf::make_message(actorserve::shutdown_atom::value),
            caf::make_message(actorserve::delete_atom::value,
                              std::string{"classify"})};
  }

  buffer payload(const caf::node_id& src, const caf::node_id& dst,
                 const caf::message& msg) {
    buffer buf;
    caf::binary_serializer sink{sys, buf};
    std::vector<caf::strong_actor_ptr> stages;
    if (src)
      sink(src, dst, stages, msg);
    else
      sink(stages, msg);
    return buf;
  }

  /// Writes one BASP frame; false once the port stopped taking bytes.
  bool frame(int fd, message_type op, uint64_t dest, const buffer& body) {
    caf::io::basp::header hdr{op, 0, static_cast<uint32_t>(body.size()), 0,
                              0, dest};
    buffer buf;
    caf::binary_serializer{sys, buf}(hdr);
    buf.insert(buf.end(), body.begin(), body.end());
    size_t done = 0;
    while (done < buf.size()) {
      auto k = ::send(fd, buf.data() + done, buf.size() - done, MSG_NOSIGNAL);
      if (k <= 0)
        return false;
      done += static_cast<size_t>(k);
    }
    return true;
  }

  /// Reads exactly `n` bytes within 2 s; false otherwise.
  static bool read_exact(int fd, buffer& buf, size_t n) {
    buf.assign(n, 0);
    size_t done = 0;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (done < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, int(left.count())) != 1)
        return false;
      auto k = ::recv(fd, buf.data() + done, n - done, 0);
      if (k <= 0)
        return false;
      done += static_cast<size_t>(k);
    }
    return true;
  }

  void read_handshake(int fd, outcome& out) {
    buffer buf;
    if (!read_exact(fd, buf, caf::io::basp::header_size))
      return;
    caf::io::basp::header hdr;
    if (caf::binary_deserializer{sys, buf}(hdr) ||
        hdr.operation != message_type::server_handshake ||
        hdr.payload_len > (1u << 20) || !read_exact(fd, buf, hdr.payload_len))
      return;
    caf::node_id node;
    std::vector<std::string> app_ids;
    caf::actor_id aid = 0;
    std::set<std::string> sigs;
    if (caf::binary_deserializer{sys, buf}(node, app_ids, aid, sigs))
      return;
    out.handshake = true;
    out.offered = aid;
    out.node = node;
  }

  /// Reads what the port still sends, until it closes or stays quiet.
  static void drain(int fd) {
    char buf[4096];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 500) == 1 && ::recv(fd, buf, sizeof(buf), 0) > 0)
      ;
  }
};

/// The TCP ports process `pid` listens on (IPv4 and IPv6).
inline std::set<uint16_t> listening_ports(pid_t pid) {
  std::set<std::string> inodes;
  auto dir = "/proc/" + std::to_string(pid) + "/fd/";
  for (int fd = 0; fd < 4096; ++fd) {
    char target[256];
    auto n = ::readlink((dir + std::to_string(fd)).c_str(), target,
                        sizeof(target) - 1);
    if (n <= 0)
      continue;
    std::string t(target, static_cast<size_t>(n));
    if (t.rfind("socket:[", 0) == 0)
      inodes.insert(t.substr(8, t.size() - 9));
  }
  std::set<uint16_t> ports;
  for (auto table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in{table};
    std::string line;
    std::getline(in, line); // the heading
    while (std::getline(in, line)) {
      std::istringstream row{line};
      std::string sl, local, remote, st, queues, timer, retr, uid, tmo, inode;
      row >> sl >> local >> remote >> st >> queues >> timer >> retr >> uid >>
          tmo >> inode;
      if (st == "0A" && inodes.count(inode) > 0)
        ports.insert(static_cast<uint16_t>(
            std::stoul(local.substr(local.find(':') + 1), nullptr, 16)));
    }
  }
  return ports;
}

} // namespace test
