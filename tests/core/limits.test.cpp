// The limits on what clients, peers and admins can make the server hold or
// echo, as pure functions and as controller protocol on CAF's test
// coordinator: text from outside, the admin API's access checks, config
// budgets, bounded scale-up steps and the per-node memory budget.
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "actorserve/controller.hpp"
#include "actorserve/deploy_config.hpp"
#include "actorserve/error.hpp"
#include "actorserve/placement.hpp"
#include "control/controller_steps.hpp" // max_starts_per_turn
#include "coordinator_fixture.hpp"
#include "ops/host_check.hpp"
#include "base/text.hpp"

using namespace actorserve;
using namespace actorserve::detail;

TEST_CASE("UTF-8 is checked by RFC 3629's table", "[limits][text]") {
  CHECK(valid_utf8(""));
  CHECK(valid_utf8("plain ascii"));
  CHECK(valid_utf8("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK_FALSE(valid_utf8("\xff"));
  CHECK_FALSE(valid_utf8("\xc3"));             // cut short
  CHECK_FALSE(valid_utf8("\xc0\xaf"));         // overlong '/'
  CHECK_FALSE(valid_utf8("\xe0\x80\xaf"));     // overlong, 3 bytes
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));     // a surrogate
  CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80")); // past U+10FFFF
  CHECK_FALSE(valid_utf8("a\x80z"));
}

TEST_CASE("invalid UTF-8 becomes U+FFFD, and JSON output never throws",
          "[limits][text]") {
  std::string bad = "id-\xff\xfe-\xc3(";
  auto fixed = to_valid_utf8(bad);
  CHECK(valid_utf8(fixed));
  CHECK(fixed == "id-\xef\xbf\xbd\xef\xbf\xbd-\xef\xbf\xbd(");
  nlohmann::json j{{"request_id", bad}, {"nested", {bad, 1}}};
  CHECK_THROWS(j.dump()); // what used to end the I/O thread
  auto text = dump_json(j);
  auto back = nlohmann::json::parse(text);
  CHECK(back["request_id"] == to_valid_utf8(bad));
  CHECK(clip_text(std::string(100, 'x'), 10) == "xxxxxxxxxx...");
  // Cut at a character boundary, never inside one.
  CHECK(valid_utf8(clip_text("\xe2\x82\xac\xe2\x82\xac", 4)));
}

TEST_CASE("request ids and header text from outside are checked",
          "[limits][text]") {
  CHECK(valid_request_id("abc-123_X.y"));
  CHECK_FALSE(valid_request_id(""));
  CHECK_FALSE(valid_request_id(std::string(129, 'a')));
  CHECK(valid_request_id(std::string(128, 'a')));
  CHECK_FALSE(valid_request_id("a b"));
  CHECK_FALSE(valid_request_id("a\r\nb"));
  CHECK_FALSE(valid_request_id("\xc3\xa9"));
  CHECK(valid_header_text("text/plain; charset=utf-8"));
  CHECK_FALSE(valid_header_text("a\r\nSet-Cookie: x"));
  CHECK_FALSE(valid_header_text(std::string{"a\0b", 3}));
  CHECK(valid_header_name("X-Custom_1"));
  CHECK_FALSE(valid_header_name("Bad Name"));
  CHECK_FALSE(valid_header_name("X:Y"));
  CHECK_FALSE(valid_header_name(""));
}

TEST_CASE("JSON nesting is bounded before parsing", "[limits][text]") {
  CHECK_FALSE(json_nesting_over("[[[]]]", 3));
  CHECK(json_nesting_over("[[[[]]]]", 3));
  // Brackets inside strings do not count.
  CHECK_FALSE(json_nesting_over(R"(["[[[[[[", "\"[[[["])", 1));
  auto deep = std::string(max_json_depth + 1, '[') +
              std::string(max_json_depth + 1, ']');
  CHECK(parse_json_text(deep).is_discarded());
  CHECK(parse_json_text("{\"a\": [1, 2]}")["a"][1] == 2);
  CHECK(parse_json_text("{not json").is_discarded());
}

TEST_CASE("the admin API's Host check and bearer token", "[limits][admin]") {
  CHECK(is_loopback_host("127.0.0.1"));
  CHECK(is_loopback_host("127.8.9.10"));
  CHECK(is_loopback_host("::1"));
  CHECK(is_loopback_host("localhost"));
  CHECK_FALSE(is_loopback_host("0.0.0.0"));
  CHECK_FALSE(is_loopback_host("10.0.0.1"));
  CHECK_FALSE(is_loopback_host("localhost.attacker.example"));
  // Bound to loopback: only loopback names, any port.
  CHECK(host_header_allowed("127.0.0.1:8265", "127.0.0.1"));
  CHECK(host_header_allowed("LOCALHOST", "127.0.0.1"));
  CHECK(host_header_allowed("[::1]:8265", "127.0.0.1"));
  CHECK_FALSE(host_header_allowed("attacker.example:8265", "127.0.0.1"));
  CHECK_FALSE(host_header_allowed("", "127.0.0.1"));
  CHECK_FALSE(host_header_allowed("127.0.0.1:x", "127.0.0.1"));
  CHECK_FALSE(host_header_allowed("127.0.0.1 evil", "127.0.0.1"));
  // Bound to one address: that address; to all: any (the token guards it).
  CHECK(host_header_allowed("192.0.2.7:8265", "192.0.2.7"));
  CHECK_FALSE(host_header_allowed("attacker.example", "192.0.2.7"));
  CHECK(host_header_allowed("anything.example", "0.0.0.0"));
  CHECK(bearer_matches("Bearer tok-1", "tok-1"));
  CHECK(bearer_matches("bearer tok-1", "tok-1"));
  CHECK_FALSE(bearer_matches("Bearer tok-2", "tok-1"));
  CHECK_FALSE(bearer_matches("Bearer tok-1x", "tok-1"));
  CHECK_FALSE(bearer_matches("Bearer tok-", "tok-1"));
  CHECK_FALSE(bearer_matches("Basic tok-1", "tok-1"));
  CHECK_FALSE(bearer_matches("Bearer ", ""));
}

TEST_CASE("a config over its budget is refused before it is expanded",
          "[limits][config]") {
  // Nine levels of ten aliases each: 10^9 nodes if expanded.
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k)
      bomb += (k ? ", *a" : "*a") + std::to_string(i - 1);
    bomb += "]\n";
  }
  auto r = parse_deploy_config(bomb, "bomb.yaml");
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == errc::invalid_config);
  CHECK_THAT(message_of(r.error()), Catch::Contains("max_config_nodes"));
  auto deep = std::string(max_config_depth + 2, '[') +
              std::string(max_config_depth + 2, ']');
  auto d = parse_deploy_config(deep, "deep.yaml");
  REQUIRE_FALSE(d);
  CHECK_THAT(message_of(d.error()), Catch::Contains("max_config_depth"));
  auto big = parse_deploy_config(std::string(max_config_bytes + 1, '#'),
                                 "big.yaml");
  REQUIRE_FALSE(big);
  CHECK_THAT(message_of(big.error()), Catch::Contains("max_config_bytes"));
}

TEST_CASE("a scale-up starts replicas in bounded steps, serving other "
          "messages in between",
          "[limits][controller]") {
  test::fixture f;
  auto box = f.make_box();
  auto ctrl = f.own(spawn_controller(f.sys));
  auto deployed = test::request<application_status>(
      f, ctrl, deploy_atom::value, app_spec{"app", "", test::held_spec(box)});
  REQUIRE(*deployed.done);
  // The scale request and a status request, queued one after the other.
  uint32_t target = 3 * detail::ctl::max_starts_per_turn;
  test::ask up;
  test::ask st;
  auto send = [&](test::ask a, auto typed, auto... xs) {
    using T = decltype(typed);
    f.sys.spawn(
        [a, xs...](caf::event_based_actor* self, caf::actor dest) {
          self->request(dest, caf::infinite, xs...)
              .then(
                  [a](T& x) {
                    *a.out = caf::make_message(std::move(x));
                    *a.done = true;
                  },
                  [a](caf::error& err) {
                    *a.out = std::move(err);
                    *a.done = true;
                  });
        },
        caf::actor_cast<caf::actor>(ctrl));
  };
  send(up, deployment_status{}, scale_atom::value, std::string{"app"},
       std::string{"Held"}, target);
  send(st, serve_status{}, status_atom::value);
  f.run();
  REQUIRE(*st.done);
  REQUIRE(*up.done);
  // Status came between two turns: it saw one step's replicas, not all.
  auto seen = st.out->value().get_as<serve_status>(0);
  auto& reps = seen.applications.at(0).deployments.at(0).replicas;
  CHECK(reps.size() <= detail::ctl::max_starts_per_turn + 1);
  CHECK(reps.size() >= 1);
  // The scale-up still completes.
  auto done = up.out->value().get_as<deployment_status>(0);
  CHECK(test::ready_replicas(done) == target);
}

TEST_CASE("replicas past a node's memory budget stay pending with the "
          "reason",
          "[limits][controller][placement]") {
  test::fixture f;
  auto box = f.make_box();
  // Room for exactly four replicas' framework reserve.
  resource_set local{8, {{memory_resource, 4 * replica_memory_reserve}}};
  auto ctrl = f.own(spawn_controller(f.sys, local));
  auto spec = test::held_spec(box);
  spec->config.num_replicas = 6;
  auto deployed = test::request<application_status>(
      f, ctrl, deploy_atom::value, app_spec{"app", "", spec});
  CHECK_FALSE(*deployed.done); // waits for the two that do not fit
  auto st = test::find_dep(f, ctrl, "app", "Held");
  CHECK(st.replicas.size() == 4);
  CHECK_THAT(st.message, Catch::Contains("2 replicas pending"));
  CHECK_THAT(st.message, Catch::Contains("memory"));
  // A deployment that declares its memory reserves that too.
  CHECK(with_memory(resource_set{}, 1e6).custom.at(memory_resource) == 1e6);
  CHECK(with_memory(resource_set{}).custom.at(memory_resource) > 0);
}
