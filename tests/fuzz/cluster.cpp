// The cluster gate's messages as they come off the wire. CAF's BASP reads a
// message's forwarding stack and then the message itself (type names, then
// each value, through the types the library registers), and the gate acts
// on a few shapes, (join, node_hello) among them. Whatever the bytes,
// reading fails cleanly or gives values that write back and read again the
// same, and a joined node's status renders as JSON.
#include <stdexcept>
#include <string>

#include <caf/all.hpp>

#include "actorserve/cluster.hpp"
#include "actorserve/messages.hpp"
#include "check.hpp"
#include "base/text.hpp"
#include "control/controller_store.hpp"

using namespace actorserve;

namespace {

caf::actor_system& system_for_fuzzing() {
  // Never destroyed: ~actor_system waits for its threads at exit.
  static auto* sys = [] {
    auto* cfg = new caf::actor_system_config;
    cfg->set("scheduler.max-threads", 1);
    register_types(*cfg);
    return new caf::actor_system{*cfg};
  }();
  return *sys;
}

// What the gate and the controller do with a node's hello (cluster.cpp,
// controller_nodes.cpp), up to the status it shows.
void on_join(node_hello& hello) {
  const std::string token = "the-cluster-token";
  fuzz::require(same_token(hello.host, token) == (hello.host == token),
                "same_token is ==");
  fuzz::require(same_token(hello.host, hello.host), "same_token(x, x)");
  node_status n;
  n.role = "worker";
  n.address = hello.host + " (peer)";
  n.pid = hello.pid;
  n.resources = hello.resources;
  n.deployments = hello.deployments;
  serve_status st;
  st.nodes.push_back(std::move(n));
  std::string json;
  try {
    json = to_json(st);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exception: %s\n", e.what());
    fuzz::require(false, "a node's status renders as JSON");
  }
  fuzz::require(detail::valid_utf8(json), "status JSON is UTF-8");
}

void on_message(caf::message& msg) {
  if (msg.match_elements<join_atom, node_hello>())
    on_join(msg.get_mutable_as<node_hello>(1));
}

// A message with a float or double that is not finite cannot be written
// back: CAF 0.17.6's binary serializer never returns on an infinite one
// (its pack754 loops; docs/reliability.md, "Findings"), which
// detail::finite_probe (the state store's guard) tells.
using actorserve::detail::finite_probe;

// Writes `stages` and `msg` back; reading that gives the same bytes again.
void check_round_trip(caf::execution_unit* ctx,
                      std::vector<caf::strong_actor_ptr>& stages,
                      caf::message& msg) {
  finite_probe probe{ctx};
  if (probe(stages, msg) || !probe.finite)
    return; // holds an infinity: CAF would hang writing it
  std::vector<char> once;
  caf::binary_serializer sink{ctx, once};
  if (sink(stages, msg))
    return; // some values (an actor of no node) do not write back
  std::vector<caf::strong_actor_ptr> stages2;
  caf::message msg2;
  caf::binary_deserializer source{ctx, once};
  auto err = source(stages2, msg2);
  fuzz::require(!err, "what was written reads back");
  std::vector<char> twice;
  caf::binary_serializer sink2{ctx, twice};
  fuzz::require(!sink2(stages2, msg2), "what was read writes back");
  fuzz::require(once == twice, "a message round-trips unchanged");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& sys = system_for_fuzzing();
  caf::scoped_execution_unit ctx{&sys};
  std::vector<caf::strong_actor_ptr> stages;
  caf::message msg;
  caf::binary_deserializer source{&ctx, reinterpret_cast<const char*>(data),
                                  size};
  try {
    if (source(stages, msg))
      return 0; // refused: BASP drops the connection
  } catch (const std::runtime_error& e) {
    // F4 (docs/reliability.md): CAF 0.17.6's reader of its own
    // `config_value` throws on a bad variant index instead of returning an
    // error. Open in CAF; only a peer that proved the cluster token reaches
    // BASP. Any other exception is a finding.
    fuzz::require(std::string{e.what()} == "invalid type found",
                  "reading a message fails with an error, not an exception");
    return 0;
  }
  on_message(msg);
  check_round_trip(&ctx, stages, msg);
  return 0;
}
