/// Helpers of the cluster tests: the head's and a worker's options, a bare
/// CAF peer, and an application that needs a worker's resources.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actorserve/actorserve.hpp"
#include "cluster/auth.hpp"
#include "cluster/cluster_impl.hpp"
#include "demo_server.hpp"

namespace test::cluster {

using namespace actorserve;

inline constexpr const char* token = "a-cluster-token-for-tests";

inline serve_options head_options() {
  auto opts = test::demo_options();
  opts.cluster.listen = true;
  opts.cluster.token = token;
  return opts;
}

/// A bare CAF actor system with the io middleman: a peer of the head that
/// is not an actorserve node (it passes the front with the token).
struct peer_system {
  struct config : caf::actor_system_config {
    config() {
      load<caf::io::middleman>();
      register_types(*this);
      set("logger.console-verbosity", caf::atom("quiet"));
    }
  };
  config cfg;
  caf::actor_system sys{cfg};

  /// The head's gate, through its front with the cluster's token.
  cluster_gate_actor gate(uint16_t port) {
    auto g = detail::dial_gate(sys, token, "127.0.0.1", port,
                               std::chrono::seconds(5));
    REQUIRE(g);
    return *g;
  }

  /// Joins proving `presented` as the token: the node id, or the error.
  caf::expected<uint64_t> join(cluster_gate_actor gate,
                               const std::string& presented) {
    node_hello hello;
    hello.host = "test-peer";
    hello.pid = 42;
    caf::scoped_actor self{sys};
    caf::expected<uint64_t> result{uint64_t{0}};
    self->request(gate, std::chrono::seconds(10), join_challenge_atom::value)
        .receive(
            [&](const std::string& nonce) {
              hello.proof = detail::auth::join_proof(presented, nonce);
            },
            [&](caf::error& err) { result = std::move(err); });
    if (!result)
      return result;
    self->request(gate, std::chrono::seconds(10), join_atom::value, hello)
        .receive([&](uint64_t id) { result = id; },
                 [&](caf::error& err) { result = std::move(err); });
    return result;
  }
};

using where_actor =
    caf::typed_actor<caf::replies_to<http_request>::with<http_response>>;

inline where_actor::behavior_type accel_model(where_actor::pointer) {
  return {[](const http_request& req) {
    return json_response({{"served", true}, {"body", req.body}});
  }};
}

/// An application whose one replica needs an accelerator.
inline caf::error deploy_accel(serve& s) {
  auto h =
      s.run(s.deployment("Accel", accel_model).resources({{"accel", 1}}).bind(),
            {"accel", "/accel"});
  return h ? caf::error{} : h.error();
}

inline serve_options worker_options(uint16_t head_port) {
  auto opts = test::demo_options();
  opts.cluster.join = "127.0.0.1:" + std::to_string(head_port);
  opts.cluster.token = token;
  return opts;
}

/// Stops a head before the futures of a test end: should a check fail, a
/// `run` still waiting on the head then returns.
struct stop_first {
  serve& s;
  ~stop_first() { s.shutdown(); }
};

inline const node_status* find_node(const serve_status& st, uint64_t id) {
  auto i = std::find_if(st.nodes.begin(), st.nodes.end(),
                        [id](const node_status& n) { return n.id == id; });
  return i == st.nodes.end() ? nullptr : &*i;
}

} // namespace test::cluster
