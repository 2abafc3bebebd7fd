// The per-caller routing decisions as plain data: a caller_router driven
// through a recording sink, with no actor and no thread.
#include <catch2/catch.hpp>

#include <map>
#include <vector>

#include "actorserve/error.hpp"
#include "calls/routing.hpp"

using namespace actorserve;

namespace {

/// Records what the router asks its host to do. Replicas are named by id
/// only (their actor handles stay empty: nothing is sent).
struct recording_sink : call_sink {
  std::vector<call_ptr> sent;
  std::vector<std::pair<uint64_t, errc>> failed; // token, code
  int timers = 0;

  void dispatch(call_ptr call, const replica_ref&) override {
    sent.push_back(std::move(call));
  }

  void fail(call_ptr call, caf::error err) override {
    failed.emplace_back(call->token, code_of(err));
  }

  void arm_retry(caf::timespan) override { ++timers; }

  /// Takes the oldest call sent to `replica`.
  call_ptr take(uint64_t replica) {
    for (auto i = sent.begin(); i != sent.end(); ++i)
      if ((*i)->replica == replica) {
        auto c = std::move(*i);
        sent.erase(i);
        return c;
      }
    return nullptr;
  }

  size_t sent_to(uint64_t replica) const {
    size_t n = 0;
    for (auto& c : sent)
      n += c->replica == replica ? 1 : 0;
    return n;
  }
};

call_ptr make_call(uint64_t token, caf::timestamp deadline = {}) {
  auto c = std::make_unique<routed_call>();
  c->token = token;
  c->meta.deadline = deadline;
  return c;
}

std::vector<replica_ref> replicas(std::initializer_list<uint64_t> ids) {
  std::vector<replica_ref> out;
  for (auto id : ids)
    out.push_back(replica_ref{id, caf::actor{}, nullptr});
  return out;
}

/// Replicas with open admission gates, as the controller publishes replicas
/// of this process.
std::vector<replica_ref> gated(std::vector<detail::gate_ptr> gates) {
  std::vector<replica_ref> out;
  uint64_t id = 1;
  for (auto& g : gates) {
    g->open();
    out.push_back(replica_ref{id++, caf::actor{}, g});
  }
  return out;
}

} // namespace

TEST_CASE("a caller admits calls at the replicas' gates and waits when every "
          "gate is full",
          "[caller_router]") {
  auto ep = std::make_shared<endpoint>("app", "D", 2, -1);
  auto a = std::make_shared<detail::admission_gate>(2);
  auto b = std::make_shared<detail::admission_gate>(2);
  ep->publish(gated({a, b}));
  // Another caller holds one of A's slots: this caller sees it at the gate.
  uint32_t running = 0;
  REQUIRE(a->try_enter(running));
  recording_sink sink;
  caller_router r{ep, sink, 1};
  for (uint64_t t = 1; t <= 4; ++t)
    r.submit(make_call(t));
  // Loads 1 vs 0, then 1 vs 1, ...: three fit, the fourth waits.
  CHECK(sink.sent_to(1) == 1);
  CHECK(sink.sent_to(2) == 2);
  CHECK(a->running() == 2);
  CHECK(b->running() == 2);
  CHECK(r.waiting() == 1);
  for (auto& c : sink.sent)
    CHECK(c->gate != nullptr); // each holds its slot
  // The other caller's call ends; the retry timer finds the free slot.
  a->leave();
  r.on_retry();
  CHECK(sink.sent_to(1) == 2);
  CHECK(r.waiting() == 0);
  CHECK(a->running() == 2);
}

TEST_CASE("a closed gate turns callers to the other replicas",
          "[caller_router]") {
  auto ep = std::make_shared<endpoint>("app", "D", 4, -1);
  auto a = std::make_shared<detail::admission_gate>(4);
  auto b = std::make_shared<detail::admission_gate>(4);
  ep->publish(gated({a, b}));
  CHECK(a->close() == 0); // A drains; this caller's snapshot still lists it
  recording_sink sink;
  caller_router r{ep, sink, 1};
  for (uint64_t t = 1; t <= 6; ++t)
    r.submit(make_call(t));
  CHECK(sink.sent_to(1) == 0);
  CHECK(sink.sent_to(2) == 4);
  CHECK(r.waiting() == 2);
  CHECK(a->running() == 0);
}

TEST_CASE("a caller with no replicas fails calls as unavailable",
          "[caller_router]") {
  auto ep = std::make_shared<endpoint>("app", "D", 2, -1);
  recording_sink sink;
  caller_router r{ep, sink, 1};
  r.submit(make_call(1));
  REQUIRE(sink.failed.size() == 1);
  CHECK(sink.failed[0].second == errc::unavailable);
  CHECK(sink.sent.empty());
}

TEST_CASE("a caller fills replicas up to max_ongoing_requests, then queues",
          "[caller_router]") {
  auto ep = std::make_shared<endpoint>("app", "D", 2, -1);
  ep->publish(replicas({1, 2}));
  recording_sink sink;
  caller_router r{ep, sink, 1};
  for (uint64_t t = 1; t <= 6; ++t)
    r.submit(make_call(t));
  // Power of two choices over two replicas: always the emptier one.
  CHECK(sink.sent_to(1) == 2);
  CHECK(sink.sent_to(2) == 2);
  CHECK(r.waiting() == 2);
  CHECK(sink.timers == 1);
  // An answer frees a slot: the oldest waiting call (token 5) goes there.
  auto done = sink.take(2);
  r.answered(done->replica);
  CHECK(sink.sent_to(2) == 2);
  CHECK(sink.sent.back()->token == 5);
  CHECK(r.waiting() == 1);
  CHECK(r.in_flight() == 4);
}

TEST_CASE("a rejected call goes to another replica, then waits at the front",
          "[caller_router]") {
  auto ep = std::make_shared<endpoint>("app", "D", 1, -1);
  ep->publish(replicas({1, 2}));
  recording_sink sink;
  caller_router r{ep, sink, 3};
  r.submit(make_call(1));
  auto first = std::move(sink.sent.front());
  sink.sent.clear();
  auto other = first->replica == 1 ? 2u : 1u;
  // Rejected by a replica full through other callers: tried elsewhere.
  r.rejected(std::move(first), 1);
  REQUIRE(sink.sent.size() == 1);
  CHECK(sink.sent[0]->replica == other);
  r.submit(make_call(2)); // both look full now: it waits
  CHECK(r.waiting() == 1);
  // The second replica rejects too: the call goes back in line, ahead of 2.
  auto again = std::move(sink.sent.front());
  sink.sent.clear();
  r.rejected(std::move(again), 1);
  CHECK(r.waiting() == 2);
  CHECK(sink.sent.empty());
  // The retry timer probes again, oldest first.
  r.on_retry();
  REQUIRE(sink.sent.size() == 2);
  CHECK(sink.sent[0]->token == 1);
  CHECK(sink.sent[1]->token == 2);
  CHECK(sink.failed.empty());
}

TEST_CASE("max_queued_requests bounds waiting calls per caller",
          "[caller_router]") {
  auto ep = std::make_shared<endpoint>("app", "D", 1, 2);
  ep->publish(replicas({1}));
  recording_sink sink;
  caller_router r{ep, sink, 1};
  for (uint64_t t = 1; t <= 5; ++t)
    r.submit(make_call(t));
  CHECK(sink.sent.size() == 1);
  CHECK(r.waiting() == 2);
  REQUIRE(sink.failed.size() == 2);
  CHECK(sink.failed[0] == std::make_pair(uint64_t{4}, errc::overloaded));
  CHECK(sink.failed[1] == std::make_pair(uint64_t{5}, errc::overloaded));
  // A second caller has a queue of its own (Ray's semantics).
  recording_sink sink2;
  caller_router r2{ep, sink2, 2};
  r2.submit(make_call(10));
  r2.submit(make_call(11));
  CHECK(sink2.sent.size() == 1);
  CHECK(r2.waiting() == 1);
  CHECK(sink2.failed.empty());
}

TEST_CASE("threads of one caller share its queue bound", "[caller_router]") {
  // The demo's /blocking contract with the ingress on two threads: one
  // replica admitting 4, a queue of 4, and 12 calls spread over both
  // threads give 4 running, 4 waiting and 4 overloaded, whatever the order.
  auto ep = std::make_shared<endpoint>("app", "D", 4, 4);
  ep->publish(replicas({1}));
  recording_sink a_sink, b_sink;
  caller_router a{ep, a_sink, 1, ep->ingress_budget()};
  caller_router b{ep, b_sink, 2, ep->ingress_budget()};
  for (uint64_t t = 1; t <= 6; ++t) {
    a.submit(make_call(t));
    b.submit(make_call(100 + t));
  }
  // Each thread believes the replica is empty and sends 4; the replica
  // admits only the first 4 that reach it, here thread a's.
  CHECK(a_sink.sent.size() == 4);
  CHECK(b_sink.sent.size() == 4);
  while (!b_sink.sent.empty()) {
    auto c = std::move(b_sink.sent.front());
    b_sink.sent.erase(b_sink.sent.begin());
    b.rejected(std::move(c), 4);
  }
  auto overloaded = a_sink.failed.size() + b_sink.failed.size();
  CHECK(overloaded == 4);
  CHECK(a.waiting() + b.waiting() == 4);
  CHECK(*ep->ingress_budget() == 4);
  // When the four finish, every waiting call runs; nothing is lost.
  for (int i = 0; i < 4; ++i) {
    auto c = std::move(a_sink.sent.front());
    a_sink.sent.erase(a_sink.sent.begin());
    a.answered(c->replica);
  }
  b.on_retry();
  CHECK(a_sink.sent.size() + b_sink.sent.size() == 4);
  CHECK(a.waiting() + b.waiting() == 0);
  CHECK(*ep->ingress_budget() == 0);
}

TEST_CASE("a new replica set takes waiting calls, a removed one fails them",
          "[caller_router]") {
  auto ep = std::make_shared<endpoint>("app", "D", 1, -1);
  ep->publish(replicas({1}));
  recording_sink sink;
  caller_router r{ep, sink, 1};
  for (uint64_t t = 1; t <= 3; ++t)
    r.submit(make_call(t));
  CHECK(r.waiting() == 2);
  // Scaled up: the next event routes the waiting calls to the new replicas.
  ep->publish(replicas({1, 2, 3}));
  r.update();
  CHECK(r.waiting() == 0);
  CHECK(sink.sent_to(2) + sink.sent_to(3) == 2);
  // A call in flight at a replica that left the set still counts down.
  ep->publish(replicas({2, 3}));
  auto old = sink.take(1);
  r.answered(old->replica);
  CHECK(r.in_flight() == 2);
  // Deleted: waiting calls fail as unavailable, new ones too.
  r.submit(make_call(4));
  r.submit(make_call(5));
  REQUIRE(r.waiting() == 2);
  ep->remove();
  r.on_retry();
  CHECK(r.waiting() == 0);
  REQUIRE(sink.failed.size() == 2);
  CHECK(sink.failed[0].second == errc::unavailable);
  r.submit(make_call(6));
  CHECK(sink.failed.size() == 3);
}

TEST_CASE("a waiting call whose deadline passed fails as deadline_exceeded",
          "[caller_router]") {
  auto ep = std::make_shared<endpoint>("app", "D", 1, -1);
  ep->publish(replicas({1}));
  recording_sink sink;
  caller_router r{ep, sink, 1};
  r.submit(make_call(1));
  r.submit(make_call(2, caf::make_timestamp() - std::chrono::seconds(1)));
  r.submit(make_call(3));
  auto first = sink.take(1);
  r.answered(first->replica);
  REQUIRE(sink.failed.size() == 1);
  CHECK(sink.failed[0] == std::make_pair(uint64_t{2}, errc::deadline_exceeded));
  REQUIRE(sink.sent.size() == 1);
  CHECK(sink.sent[0]->token == 3);
}

TEST_CASE("a waiting call that is rejected after it was sent keeps the queue "
          "count exact",
          "[caller_router]") {
  auto ep = std::make_shared<endpoint>("app", "D", 1, -1);
  ep->publish(replicas({1, 2}));
  recording_sink sink;
  auto budget = std::make_shared<queue_budget>(0);
  caller_router r{ep, sink, 1, budget};
  r.submit(make_call(1));
  r.submit(make_call(2));
  r.submit(make_call(3)); // both replicas busy: it waits
  REQUIRE(*budget == 1);
  // Call 1 finishes; call 3 leaves the queue for that replica...
  auto first = std::move(sink.sent.front());
  sink.sent.erase(sink.sent.begin());
  auto freed = first->replica;
  r.answered(freed);
  CHECK(*budget == 0);
  auto third = sink.take(freed);
  REQUIRE(third);
  CHECK(third->token == 3);
  // ...which rejects it (full through another caller): it waits again,
  // holding one slot.
  r.rejected(std::move(third), 1);
  CHECK(r.waiting() == 1);
  CHECK(*budget == 1);
  // Call 2 finishes: call 3 goes there, and no slot is left over.
  auto second = std::move(sink.sent.front());
  sink.sent.erase(sink.sent.begin());
  r.answered(second->replica);
  CHECK(r.waiting() == 0);
  CHECK(*budget == 0);
  // Rejected once more, with room elsewhere: sent on, still no slot held.
  auto again = sink.take(second->replica);
  REQUIRE(again);
  r.on_retry();
  r.rejected(std::move(again), 1);
  CHECK(*budget == 0);
}

TEST_CASE("calls for a model go to its holders, and spread when the holders "
          "are full",
          "[caller_router][multiplexing]") {
  auto for_model = [](uint64_t token, const std::string& model) {
    auto call = make_call(token);
    call->meta.multiplexed_model_id = model;
    return call;
  };
  // Whatever the router's random draws (one seed each), the tiers decide.
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    CAPTURE(seed);
    auto ep = std::make_shared<endpoint>("app", "D", 2, -1);
    std::vector<detail::gate_ptr> gates;
    for (int i = 0; i < 5; ++i)
      gates.push_back(std::make_shared<detail::admission_gate>(2));
    gates[0]->set_models({"hot"});
    gates[1]->set_models({"x", "y"});
    gates[2]->set_models({"z"}); // replica 3 holds the fewest
    gates[3]->set_models({"u", "v"});
    gates[4]->set_models({"w", "t"});
    ep->publish(gated(gates));
    recording_sink sink;
    caller_router r{ep, sink, seed};
    // Both of replica 1's slots go to "hot" while it holds it...
    r.submit(for_model(1, "hot"));
    r.submit(for_model(2, "hot"));
    CHECK(sink.sent_to(1) == 2);
    // ...then "hot" spreads to the replica holding the fewest models.
    r.submit(for_model(3, "hot"));
    CHECK(sink.sent_to(3) == 1);
    // A model nobody holds starts there too, while it has room.
    r.submit(for_model(4, "new"));
    CHECK(sink.sent_to(3) == 2);
    r.submit(for_model(5, "new"));
    CHECK(sink.sent_to(3) == 2);
    CHECK(sink.sent.size() == 5);
    CHECK(r.waiting() == 0);
  }
}
