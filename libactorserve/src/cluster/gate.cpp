// The head's cluster gate (cluster.hpp): it admits nodes that prove the
// cluster token over one of its challenges, and hears only nodes it
// admitted.
#include "ops/logging.hpp"

#include <chrono>
#include <deque>
#include <set>

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actorserve/controller.hpp"
#include "actorserve/error.hpp"
#include "cluster/auth.hpp"
#include "cluster/cluster_impl.hpp"
#include "cluster/front_limits.hpp"

namespace actorserve::detail {

namespace {

/// How long the gate waits for the controller to record a joining node.
constexpr auto join_answer_timeout = std::chrono::seconds(10);


using clock = std::chrono::steady_clock;

/// Challenges live a few seconds, and only so many at once.
constexpr size_t max_challenges = 64;
constexpr auto challenge_life = std::chrono::seconds(10);

struct challenge {
  std::string nonce;
  clock::time_point expiry;
};

struct gate_state {
  std::string token;
  controller_actor ctrl;
  port_cell port;
  std::deque<challenge> challenges;
  /// The CAF nodes that joined.
  std::set<caf::node_id> joined;
  log_budget budget{5, std::chrono::seconds(10)};
  static inline const char* name = "actorserve.cluster_gate";
};

using gate_ptr = cluster_gate_actor::stateful_pointer<gate_state>;

caf::node_id sender_node(gate_ptr self) {
  auto& src = self->current_sender();
  return src ? src->node() : caf::node_id{};
}

/// Consumes the live challenge that `proof` answers: why it cannot, or an
/// empty string.
std::string use_challenge(gate_state& st, const std::string& proof) {
  auto now = clock::now();
  while (!st.challenges.empty() && st.challenges.front().expiry <= now)
    st.challenges.pop_front();
  if (proof.empty())
    return "missing cluster token";
  for (auto i = st.challenges.begin(); i != st.challenges.end(); ++i)
    if (auth::check_join_proof(st.token, i->nonce, proof)) {
      st.challenges.erase(i);
      return {};
    }
  return "wrong cluster token";
}

caf::result<std::string> new_challenge(gate_ptr self) {
  auth::nonce n{};
  if (!auth::fresh_nonce(n))
    return make_error(errc::unavailable, "the head has no random nonce");
  auto& q = self->state.challenges;
  if (q.size() >= max_challenges)
    q.pop_front();
  std::string text(n.begin(), n.end());
  q.push_back(challenge{text, clock::now() + challenge_life});
  return text;
}

caf::result<uint64_t> join(gate_ptr self, node_hello& hello) {
  auto& st = self->state;
  auto node = sender_node(self);
  auto peer = node ? caf::to_string(node) : std::string{"unknown"};
  if (auto why = use_challenge(st, hello.proof); !why.empty()) {
    if (st.budget.take(clock::now()))
      log_line{log_level::warning}
          << "refused a node joining from " << peer << " (" << hello.host
          << ", pid " << hello.pid << "): " << why;
    return make_error(errc::unauthenticated,
                      "the head refused this node: " + why);
  }
  hello.proof.clear();
  if (node)
    st.joined.insert(node);
  set_cluster_nodelay(st.port->load(), true);
  auto host = hello.host;
  auto pid = hello.pid;
  auto rp = self->make_response_promise<uint64_t>();
  // Bounded: a controller that cannot answer (stopping, or stuck) leaves
  // the joining node an error it reports, not a wait without end.
  self->request(st.ctrl, join_answer_timeout, node_join_atom::value,
                std::move(hello), peer)
      .then(
          [=](uint64_t id) mutable {
            log_line{log_level::info} << "node " << id << " joined from "
                                      << host << " (pid " << pid << ")";
            rp.deliver(id);
          },
          [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

} // namespace

cluster_gate_actor spawn_cluster_gate(caf::actor_system& sys, std::string token,
                                      controller_actor controller,
                                      port_cell port) {
  return sys.spawn(
      [](gate_ptr self, std::string token, controller_actor ctrl,
         port_cell port) -> cluster_gate_actor::behavior_type {
        self->state.token = std::move(token);
        self->state.ctrl = ctrl;
        self->state.port = std::move(port);
        // Only a node that joined speaks for one.
        auto joined = [self] {
          return self->state.joined.count(sender_node(self)) > 0;
        };
        auto stranger = [] {
          return make_error(errc::unauthenticated,
                            "this node has not joined the cluster");
        };
        return {
            [self](join_challenge_atom) { return new_challenge(self); },
            [self](join_atom, node_hello& hello) { return join(self, hello); },
            [=](node_deployments_atom, uint64_t node,
                std::vector<std::string>& names) -> caf::result<bool> {
              if (!joined())
                return stranger();
              return self->delegate(ctrl, node_deployments_atom::value, node,
                                    std::move(names));
            },
            [=](node_status_atom) -> caf::result<serve_status> {
              if (!joined())
                return stranger();
              return self->delegate(ctrl, status_atom::value);
            },
        };
      },
      std::move(token), std::move(controller), std::move(port));
}

} // namespace actorserve::detail
