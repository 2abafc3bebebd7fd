// The config file as plain data: every key read, every error with its line
// and full path.
#include <catch2/catch.hpp>

#include <string>

#include "actorserve/deploy_config.hpp"
#include "actorserve/error.hpp"
#include "actorserve/serve.hpp"

using namespace actorserve;
using namespace std::chrono;

namespace {

/// The error of parsing `text` (fails the test when it parses).
std::string error_of(const std::string& text) {
  auto cfg = parse_deploy_config(text, "c.yaml");
  REQUIRE_FALSE(cfg);
  CHECK(code_of(cfg.error()) == errc::invalid_config);
  return message_of(cfg.error());
}

} // namespace

TEST_CASE("a full config is read into options and applications") {
  auto cfg = parse_deploy_config(R"(
http_options:
  host: 0.0.0.0
  port: 9000
  request_timeout_s: 2.5
  keep_alive_timeout_s: 10
admin_options: {host: 127.0.0.1, port: 9265}
logging_config:
  encoding: JSON
  log_level: WARNING
  enable_access_log: true
applications:
  - name: classify
    route_prefix: /classify
    import_path: demo:classify
    args: {tokenizers: 3, label: "007", nested: {a: [1, 2]}}
    deployments:
      - name: Tokenizer
        num_replicas: 4
        max_ongoing_requests: 8
        max_queued_requests: -1
        user_config: {threshold: 0.5}
        version: v2
        health_check_period_s: 1
        health_check_timeout_s: 0.5
        graceful_shutdown_timeout_s: 5
        max_replicas_per_node: 2
        ray_actor_options: {num_cpus: 0.5, resources: {accel: 1}}
        autoscaling_config: {min_replicas: 1, max_replicas: 5, upscale_delay_s: 2}
  - name: other
    route_prefix: null
    import_path: demo:route
    deployments:
      - name: Dispatcher
        autoscaling_config: null
)",
                                 "c.yaml");
  INFO((cfg ? std::string{} : message_of(cfg.error())));
  REQUIRE(cfg);
  serve_options opts;
  apply_server_options(*cfg, opts);
  CHECK(opts.http.host == "0.0.0.0");
  CHECK(opts.http.port == 9000);
  CHECK(opts.http.request_timeout == milliseconds{2500});
  CHECK(opts.http.keep_alive_timeout == seconds{10});
  CHECK(opts.admin.port == 9265);
  CHECK(opts.logging.encoding == "JSON");
  CHECK(opts.logging.level == "WARNING");
  CHECK(opts.logging.enable_access_log);
  REQUIRE(cfg->applications.size() == 2);
  auto& app = cfg->applications[0];
  CHECK(app.name == "classify");
  CHECK(app.route_prefix == "/classify");
  CHECK(app.import_path == "demo:classify");
  CHECK(app.args["tokenizers"] == 3);
  CHECK(app.args["label"] == "007"); // quoted: stays a string
  CHECK(app.args["nested"]["a"][1] == 2);
  REQUIRE(app.deployments.size() == 1);
  auto& d = app.deployments[0];
  CHECK(d.name == "Tokenizer");
  CHECK(d.num_replicas == 4u);
  CHECK(d.max_ongoing_requests == 8u);
  CHECK(d.max_queued_requests == -1);
  CHECK(d.user_config == std::string{R"({"threshold":0.5})"});
  CHECK(d.version == std::string{"v2"});
  CHECK(d.health_check_period == milliseconds{1000});
  CHECK(d.health_check_timeout == milliseconds{500});
  CHECK(d.graceful_shutdown_timeout == milliseconds{5000});
  CHECK(d.max_replicas_per_node == 2u);
  CHECK(d.num_cpus == 0.5);
  CHECK(d.resources == std::map<std::string, double>{{"accel", 1}});
  REQUIRE(d.autoscaling);
  CHECK(d.autoscaling->max_replicas == 5);
  CHECK(d.autoscaling->upscale_delay == seconds{2});
  CHECK(cfg->applications[1].route_prefix.empty());
  CHECK(cfg->applications[1].deployments[0].disable_autoscaling);
  CHECK(cfg->source["applications"][0]["name"] == "classify");
}

TEST_CASE("an unknown key is an error with its line and path, never ignored") {
  CHECK(error_of("http_option:\n  port: 1\n") ==
        "c.yaml:1: http_option: is not a known field (known: admin_options, "
        "applications, http_options, logging_config)");
  auto e = error_of(R"(applications:
  - name: a
    import_path: x:y
    deployments:
      - name: D
        num_replica: 2
)");
  CHECK_THAT(e, Catch::StartsWith("c.yaml:6: "
                                  "applications[0].deployments[0].num_replica:"
                                  " is not a known field"));
  CHECK_THAT(error_of("http_options: {hots: x}\n"),
             Catch::StartsWith("c.yaml:1: http_options.hots: is not a known"));
}

TEST_CASE("a wrong type or an out-of-range value names the field and line") {
  auto base = std::string{"applications:\n  - import_path: x:y\n"
                          "    deployments:\n      - name: D\n"};
  CHECK(error_of(base + "        num_replicas: 0\n") ==
        "c.yaml:5: applications[0].deployments[0].num_replicas: must be an "
        "integer between 1 and 1000000 (got '0')");
  CHECK_THAT(error_of(base + "        max_ongoing_requests: many\n"),
             Catch::StartsWith("c.yaml:5: applications[0].deployments[0]."
                               "max_ongoing_requests: must be an integer"));
  CHECK_THAT(error_of(base + "        health_check_period_s: [1]\n"),
             Catch::StartsWith("c.yaml:5: applications[0].deployments[0]."
                               "health_check_period_s: must be a number"));
  CHECK_THAT(error_of(base + "        autoscaling_config:\n"
                             "          min_replicas: 1\n"
                             "          upscale_delay_s: soon\n"),
             Catch::StartsWith("c.yaml:7: applications[0].deployments[0]."
                               "autoscaling_config.upscale_delay_s"));
  CHECK_THAT(error_of(base + "        ray_actor_options: {num_gpus: 1}\n"),
             Catch::StartsWith("c.yaml:5: applications[0].deployments[0]."
                               "ray_actor_options.num_gpus: is not a known"));
  CHECK_THAT(error_of("http_options:\n  port: 70000\n"),
             Catch::StartsWith("c.yaml:2: http_options.port: must be an "
                               "integer between 0 and 65535"));
  CHECK_THAT(error_of("logging_config:\n  encoding: XML\n"),
             Catch::StartsWith("c.yaml:2: logging_config.encoding: must be "
                               "one of JSON, TEXT"));
  CHECK_THAT(error_of("logging_config:\n  enable_access_log: maybe\n"),
             Catch::StartsWith("c.yaml:2: logging_config.enable_access_log: "
                               "must be true or false"));
}

TEST_CASE("missing, repeated and malformed parts are errors") {
  CHECK_THAT(error_of("applications:\n  - name: a\n"),
             Catch::StartsWith("c.yaml:2: applications[0].import_path: is "
                               "required"));
  CHECK_THAT(error_of("applications:\n  - {name: a, import_path: x}\n"
                      "  - {name: a, import_path: y, route_prefix: /b}\n"),
             Catch::StartsWith("c.yaml:3: applications[1].name: 'a' is listed "
                               "twice"));
  CHECK_THAT(error_of("applications:\n  - {name: a, import_path: x}\n"
                      "  - {name: b, import_path: y}\n"),
             Catch::Contains("applications[1].route_prefix: '/' is used by "
                             "another application"));
  CHECK_THAT(error_of("applications:\n  - {import_path: x, route_prefix: "
                      "api}\n"),
             Catch::Contains("route_prefix: must start with '/'"));
  CHECK_THAT(error_of("applications: {a: 1}\n"),
             Catch::StartsWith("c.yaml:1: applications: must be a list"));
  CHECK_THAT(error_of("applications:\n  - [unclosed\n"),
             Catch::StartsWith("c.yaml:3: not valid YAML"));
}

TEST_CASE("an empty config changes nothing and lists no application") {
  auto cfg = parse_deploy_config("", "c.yaml");
  REQUIRE(cfg);
  CHECK(cfg->applications.empty());
  serve_options opts;
  apply_server_options(*cfg, opts);
  CHECK(opts.http.port == 8000);
}
