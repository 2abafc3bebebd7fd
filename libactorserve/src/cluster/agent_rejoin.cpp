// A worker node's agent joins its head again (node_agent.hpp): after the
// connection closed, keeping its replicas; after the head declared it
// DEAD, as a new node.
#include "cluster/agent_state.hpp"

#include <algorithm>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>

#include "actorserve/error.hpp"
#include "cluster/auth.hpp"
#include "cluster/cluster_impl.hpp"
#include "ops/logging.hpp"

namespace actorserve::detail {

rejoin_step after_rejoin_failure(std::chrono::milliseconds backoff,
                                 std::chrono::milliseconds left) {
  rejoin_step out;
  if (left.count() <= 0) {
    out.give_up = true;
    return out;
  }
  out.wait = std::min(backoff, left);
  out.next_backoff =
      std::min<std::chrono::milliseconds>(backoff * 2, max_rejoin_backoff);
  return out;
}

namespace {

/// No head for `orphan_after`, or no way to reach it again: the node
/// stops its replicas and ends.
void give_up(agent_ptr self, const std::string& why) {
  auto& st = self->state;
  st.again.active = false;
  detail::log_line{detail::log_level::error}
      << why << "; stopping this worker node's " << st.hosted.size()
      << " replica(s) and exiting";
  stop_hosted(self);
  if (st.on_head_lost)
    st.on_head_lost();
}

/// Until the deadline; `milliseconds::max()` when there is none.
std::chrono::milliseconds time_left(const rejoin_run& r) {
  using namespace std::chrono;
  if (r.deadline == steady_clock::time_point::max())
    return milliseconds::max();
  return duration_cast<milliseconds>(r.deadline - steady_clock::now());
}

/// Attempt `attempt` failed: another after the backoff, or give up.
void retry_later(agent_ptr self, uint64_t attempt, const std::string& why) {
  auto& r = self->state.again;
  if (!r.active || attempt != r.attempt)
    return;
  auto step = after_rejoin_failure(r.backoff, time_left(r));
  if (step.give_up) {
    give_up(self, "no head for " +
                      std::to_string(self->state.rejoin.orphan_after.count()) +
                      " ms (the last try: " + why + ")");
    return;
  }
  detail::log_line{detail::log_level::warning}
      << "joining the head again failed (" << why << "); trying again in "
      << step.wait.count() << " ms";
  self->delayed_send(self, step.wait, rejoin_atom::value, ++r.attempt);
  r.backoff = step.next_backoff;
}

/// Connects to the head again on a thread of its own (a dial blocks); the
/// result comes back as `(rejoin_atom, attempt, gate, why)`.
void dial(agent_ptr self, uint64_t attempt) {
  auto agent = caf::actor_cast<caf::actor>(self);
  // The attempt goes in as a spawn argument: CAF 0.17 spawns functors
  // without arguments through a null pointer (undefined behavior).
  self->home_system().spawn<caf::detached>(
      [agent, dial = self->state.rejoin.dial](caf::event_based_actor* me,
                                              uint64_t attempt) {
        auto gate = dial();
        if (gate)
          caf::anon_send(agent, rejoin_atom::value, attempt, *gate,
                         std::string{});
        else
          caf::anon_send(agent, rejoin_atom::value, attempt,
                         cluster_gate_actor{}, me->system().render(gate.error()));
      },
      attempt);
}

/// The hello of a rejoin: the node's previous id and the replicas it kept,
/// unless it joins as a new node.
node_hello hello_of(agent_ptr self, const std::string& nonce) {
  auto& st = self->state;
  auto hello = st.rejoin.hello;
  hello.proof = auth::join_proof(st.rejoin.token, nonce);
  hello.agent = caf::actor_cast<caf::actor>(self);
  hello.deployments = st.reg->names();
  hello.previous_id = 0;
  hello.replicas.clear();
  if (st.again.keep) {
    hello.previous_id = st.rejoin.node_id->load();
    for (auto& [id, r] : st.hosted)
      hello.replicas.push_back(report_of(id, r));
    std::sort(hello.replicas.begin(), hello.replicas.end(),
              [](auto& x, auto& y) { return x.id < y.id; });
  }
  return hello;
}

/// The head took this node back as node `id`.
void rejoined(agent_ptr self, uint64_t attempt, uint64_t id, size_t reported) {
  auto& st = self->state;
  if (attempt != st.again.attempt)
    return;
  st.again.active = false;
  st.head_lost_at_ms = 0;
  detail::log_line{detail::log_level::info}
      << "joined the head again as node " << id << ", reporting " << reported
      << " replica(s) it kept running";
}

/// One attempt: a fresh challenge, the join, and the announcement of what
/// this binary registers under the new node id; a new connection first
/// when the old one closed.
void try_join(agent_ptr self) {
  auto& st = self->state;
  auto attempt = st.again.attempt;
  if (!st.gate) {
    dial(self, attempt);
    return;
  }
  auto fail = [self, attempt](caf::error& err) {
    retry_later(self, attempt, message_of(err));
  };
  auto gate = st.gate;
  auto timeout = st.rejoin.timeout;
  self->request(gate, timeout, join_challenge_atom::value)
      .then(
          [=](const std::string& nonce) {
            auto hello = hello_of(self, nonce);
            auto reported = hello.replicas.size();
            self->request(gate, timeout, join_atom::value, std::move(hello))
                .then(
                    [=](uint64_t id) {
                      self->state.rejoin.node_id->store(id);
                      self->request(gate, timeout, node_deployments_atom::value,
                                    id, self->state.reg->names())
                          .then(
                              [=](bool) {
                                rejoined(self, attempt, id, reported);
                              },
                              fail);
                    },
                    fail);
          },
          fail);
}

/// Starts joining again, or a newer attempt when already at it; the
/// deadline counts from the first.
void start_rejoin(agent_ptr self, bool keep) {
  auto& st = self->state;
  auto& r = st.again;
  ++r.attempt; // answers over the old connection no longer count
  r.keep = keep;
  if (!r.active) {
    r.active = true;
    r.deadline = st.rejoin.orphan_after.count() > 0
                     ? std::chrono::steady_clock::now() + st.rejoin.orphan_after
                     : std::chrono::steady_clock::time_point::max();
    r.backoff = std::chrono::milliseconds{100};
  }
  try_join(self);
}

} // namespace

void lose_head(agent_ptr self) {
  auto& st = self->state;
  st.gate = nullptr;
  if (!st.rejoin.dial) {
    give_up(self, "lost the connection to the head, and cannot connect again");
    return;
  }
  if (st.head_lost_at_ms == 0)
    st.head_lost_at_ms = unix_ms_now();
  detail::log_line{detail::log_level::warning}
      << "lost the connection to the head; keeping this node's "
      << st.hosted.size() << " replica(s) serving and joining again";
  // The sets the head pushed lose the replicas out of reach until it
  // pushes them again.
  for (auto& [key, set] : st.pushed)
    set.stale = true;
  publish_all(self);
  // A rejoin as a new node that lost its connection keeps to that.
  start_rejoin(self, !st.again.active || st.again.keep);
}

void join_as_new(agent_ptr self, const std::string& why) {
  auto& st = self->state;
  detail::log_line{detail::log_level::warning}
      << why << "; stopping its " << st.hosted.size()
      << " replica(s) and joining again as a new node";
  stop_hosted(self);
  start_rejoin(self, false);
}

void dialed(agent_ptr self, uint64_t attempt, cluster_gate_actor& gate,
            const std::string& why) {
  auto& st = self->state;
  if (!st.again.active || attempt != st.again.attempt)
    return;
  if (!gate) {
    retry_later(self, attempt, why);
    return;
  }
  st.gate = std::move(gate);
  self->monitor(st.gate);
  try_join(self);
}

void on_rejoin_timer(agent_ptr self, uint64_t attempt) {
  auto& r = self->state.again;
  if (r.active && attempt == r.attempt)
    try_join(self);
}

} // namespace actorserve::detail
