// The cluster gate's messages as they come off the wire. CAF's BASP reads a
// message's forwarding stack and then the message itself (type names, then
// each value, through the types the library registers), and the gate acts
// on a few shapes, (join, node_hello) among them. Whatever the bytes,
// reading fails cleanly or gives values that write back and read again the
// same, and a joined node's status renders as JSON.
#include <cmath>
#include <stdexcept>
#include <string>

#include <caf/all.hpp>

#include "actorserve/cluster.hpp"
#include "actorserve/messages.hpp"
#include "check.hpp"
#include "base/text.hpp"

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

// Walks a message as a serializer would and notes any float or double that
// is infinite (a flag: CAF 0.17 drops the errors of a message's elements).
// CAF 0.17.6's binary serializer never returns on an infinite one (its
// pack754 loops), so such a message cannot be written back at all
// (docs/reliability.md, "Findings").
class finite_probe final : public caf::serializer {
public:
  explicit finite_probe(caf::execution_unit* ctx) : caf::serializer(ctx) {}
  caf::error begin_object(uint16_t&, std::string&) override { return {}; }
  caf::error end_object() override { return {}; }
  caf::error begin_sequence(size_t&) override { return {}; }
  caf::error end_sequence() override { return {}; }
  caf::error apply_raw(size_t, void*) override { return {}; }

  bool found_infinity = false;

protected:
  caf::error apply_impl(int8_t&) override { return {}; }
  caf::error apply_impl(uint8_t&) override { return {}; }
  caf::error apply_impl(int16_t&) override { return {}; }
  caf::error apply_impl(uint16_t&) override { return {}; }
  caf::error apply_impl(int32_t&) override { return {}; }
  caf::error apply_impl(uint32_t&) override { return {}; }
  caf::error apply_impl(int64_t&) override { return {}; }
  caf::error apply_impl(uint64_t&) override { return {}; }
  caf::error apply_impl(float& x) override { return check(x); }
  caf::error apply_impl(double& x) override { return check(x); }
  caf::error apply_impl(long double& x) override { return check(x); }
  caf::error apply_impl(std::string&) override { return {}; }
  caf::error apply_impl(std::u16string&) override { return {}; }
  caf::error apply_impl(std::u32string&) override { return {}; }

private:
  template <class T>
  caf::error check(T x) {
    found_infinity = found_infinity || std::isinf(x);
    return {};
  }
};

// Writes `stages` and `msg` back; reading that gives the same bytes again.
void check_round_trip(caf::execution_unit* ctx,
                      std::vector<caf::strong_actor_ptr>& stages,
                      caf::message& msg) {
  finite_probe probe{ctx};
  if (probe(stages, msg) || probe.found_infinity)
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
