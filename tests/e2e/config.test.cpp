// Declarative deploys end to end: a config applied to a real server with
// the demo's builders, redeployed, changed in place, and through the admin
// API over HTTP.
#include <set>

#include "actorserve/actorserve.hpp"
#include "demo_server.hpp"

using namespace std::chrono;
using namespace actorserve;

namespace {

const char* two_apps = R"(
applications:
  - name: classify
    route_prefix: /classify
    import_path: demo:classify
    args: {tokenizers: 2}
    deployments:
      - name: Classifier
        user_config: {mode: a}
  - name: blocking
    route_prefix: /blocking
    import_path: demo:blocking
)";

deploy_config parse(const std::string& text) {
  auto cfg = parse_deploy_config(text, "test.yaml");
  INFO((cfg ? std::string{} : message_of(cfg.error())));
  REQUIRE(cfg);
  return std::move(*cfg);
}

/// Replica ids of one deployment, from the status.
std::set<uint64_t> replicas_of(serve& s, const std::string& app,
                               const std::string& dep) {
  auto st = s.status();
  REQUIRE(st);
  std::set<uint64_t> ids;
  for (auto& a : st->applications)
    if (a.name == app)
      for (auto& d : a.deployments)
        if (d.name == dep)
          for (auto& r : d.replicas)
            ids.insert(r.id);
  return ids;
}

std::set<std::string> app_names(serve& s) {
  auto st = s.status();
  REQUIRE(st);
  std::set<std::string> names;
  for (auto& a : st->applications)
    names.insert(a.name);
  return names;
}

struct config_server {
  app_registry apps;
  serve s{test::demo_options()};
  config_server() {
    demo::register_apps(apps);
    s.set_app_registry(apps);
  }
};

} // namespace

TEST_CASE("a config deploys its applications, and deploying it again changes "
          "nothing",
          "[config]") {
  config_server cs;
  auto& s = cs.s;
  REQUIRE_FALSE(s.deploy(parse(two_apps), cs.apps));
  CHECK(app_names(s) == std::set<std::string>{"classify", "blocking"});
  auto r = test::http(s.http_port(), "POST", "/classify",
                      R"({"text": "I love this"})");
  CHECK(r.status == 200);
  auto tokenizers = replicas_of(s, "classify", "Tokenizer");
  auto classifiers = replicas_of(s, "classify", "Classifier");
  CHECK(tokenizers.size() == 2);
  REQUIRE_FALSE(s.deploy(parse(two_apps), cs.apps));
  CHECK(replicas_of(s, "classify", "Tokenizer") == tokenizers);
  CHECK(replicas_of(s, "classify", "Classifier") == classifiers);
  auto applied = nlohmann::json::parse(s.deployed_config());
  CHECK(applied["applications"][0]["import_path"] == "demo:classify");
}

TEST_CASE("a changed config updates in place, and what it leaves out goes",
          "[config]") {
  config_server cs;
  auto& s = cs.s;
  REQUIRE_FALSE(s.deploy(parse(two_apps), cs.apps));
  auto tokenizers = replicas_of(s, "classify", "Tokenizer");
  auto classifiers = replicas_of(s, "classify", "Classifier");
  // More Tokenizers (lightweight: the old ones stay), a new user_config for
  // the Classifier (in place: same ids), and no blocking app any more.
  REQUIRE_FALSE(s.deploy(parse(R"(
applications:
  - name: classify
    route_prefix: /classify
    import_path: demo:classify
    args: {tokenizers: 2}
    deployments:
      - name: Classifier
        user_config: {mode: b}
      - name: Tokenizer
        num_replicas: 3
)"),
                         cs.apps));
  auto now = replicas_of(s, "classify", "Tokenizer");
  CHECK(now.size() == 3);
  for (auto id : tokenizers)
    CHECK(now.count(id) == 1);
  CHECK(replicas_of(s, "classify", "Classifier") == classifiers);
  CHECK(app_names(s) == std::set<std::string>{"classify"});
  CHECK(test::http(s.http_port(), "GET", "/blocking?ms=1").status == 404);
  // New args are new code: the replicas roll over.
  REQUIRE_FALSE(s.deploy(parse(R"(
applications:
  - name: classify
    route_prefix: /classify
    import_path: demo:classify
    args: {tokenizers: 1}
)"),
                         cs.apps));
  auto rolled = replicas_of(s, "classify", "Tokenizer");
  CHECK(rolled.size() == 1);
  CHECK(now.count(*rolled.begin()) == 0);
}

TEST_CASE("a config naming what the binary lacks fails before anything "
          "changes",
          "[config]") {
  config_server cs;
  auto& s = cs.s;
  REQUIRE_FALSE(s.deploy(parse(two_apps), cs.apps));
  auto err = s.deploy(parse(R"(
applications:
  - name: classify
    import_path: demo:classify
    deployments:
      - name: Tokenizr
        num_replicas: 3
)"),
                      cs.apps);
  REQUIRE(err);
  CHECK(message_of(err) ==
        "applications[0].deployments[0].name: application 'demo:classify' has "
        "no deployment 'Tokenizr' (it has: Classifier, Tokenizer)");
  err = s.deploy(parse("applications:\n  - {import_path: demo:nothing}\n"),
                 cs.apps);
  REQUIRE(err);
  CHECK_THAT(message_of(err),
             Catch::StartsWith("applications[0].import_path: this binary has "
                               "no application 'demo:nothing' (it has: "
                               "demo:autoscale,"));
  err = s.deploy(parse("applications:\n  - import_path: demo:classify\n"
                       "    args: {tokenizers: 0}\n"),
                 cs.apps);
  REQUIRE(err);
  CHECK_THAT(message_of(err), Catch::Contains("applications[0].args: "
                                              "tokenizers must be between"));
  // Nothing changed.
  CHECK(app_names(s) == std::set<std::string>{"classify", "blocking"});
}

TEST_CASE("the admin API deploys, reports and deletes declaratively",
          "[config][admin]") {
  config_server cs;
  auto& s = cs.s;
  auto admin = s.admin_port();
  auto body = parse(two_apps).source.dump();
  auto put = test::http(admin, "PUT", "/api/serve/applications/", body);
  INFO(put.body);
  REQUIRE(put.status == 200);
  auto get = test::http(admin, "GET", "/api/serve/applications/");
  REQUIRE(get.status == 200);
  auto st = nlohmann::json::parse(get.body);
  CHECK(st["applications"]["classify"]["status"] == "RUNNING");
  CHECK(st["applications"]["classify"]["deployed_app_config"]["import_path"] ==
        "demo:classify");
  auto bad = test::http(admin, "PUT", "/api/serve/applications/",
                        R"({"applications": [{"import_path": "demo:classify",
                            "deployments": [{"name": "Tokenizer",
                                             "num_replicas": -2}]}]})");
  CHECK(bad.status == 400);
  CHECK_THAT(bad.body, Catch::Contains("applications[0].deployments[0]."
                                       "num_replicas"));
  auto del = test::http(admin, "DELETE", "/api/serve/applications/");
  CHECK(del.status == 200);
  CHECK(app_names(s).empty());
  CHECK(test::http(s.http_port(), "POST", "/classify", "{}").status == 404);
}
