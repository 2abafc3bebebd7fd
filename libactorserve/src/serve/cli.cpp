// The `actorserve` command line: run, deploy, status, config, shutdown.
#include "actorserve/cli.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "actorserve/cluster.hpp"
#include "actorserve/deploy_config.hpp"
#include "actorserve/error.hpp"
#include "serve/admin_client.hpp"
#include "base/text.hpp"

namespace actorserve {

namespace {

using json = nlohmann::json;

using detail::admin_call;
using http_reply = detail::admin_reply;

/// JSON as YAML, for people.
void emit(YAML::Emitter& out, const json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (auto& [k, v] : j.items()) {
      out << YAML::Key << k << YAML::Value;
      emit(out, v);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::BeginSeq;
    for (auto& v : j)
      emit(out, v);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    out << j.get<std::string>();
  } else if (j.is_null()) {
    out << YAML::Null;
  } else {
    out << detail::dump_json(j);
  }
}

/// The status in the shape of Ray's `serve status`.
json ray_status(const json& st) {
  json out;
  out["proxies"] = json::object();
  for (auto& node : st.value("nodes", json::array()))
    out["proxies"][std::to_string(node.value("node_id", 0))] =
        node.value("state", "") == "ALIVE" ? "HEALTHY" : "UNHEALTHY";
  out["applications"] = json::object();
  auto applications = st.value("applications", json::object());
  for (auto& [name, app] : applications.items()) {
    json a;
    a["status"] = app.value("status", "");
    a["message"] = app.value("message", "");
    a["route_prefix"] = app.value("route_prefix", "");
    a["deployments"] = json::object();
    auto deployments = app.value("deployments", json::object());
    for (auto& [dname, dep] : deployments.items()) {
      json d;
      d["status"] = dep.value("status", "");
      d["replica_states"] = json::object();
      for (auto& r : dep.value("replicas", json::array())) {
        auto state = r.value("state", "");
        if (state == "READY")
          state = "RUNNING"; // Ray's name for it
        d["replica_states"][state] = d["replica_states"].value(state, 0) + 1;
      }
      d["message"] = dep.value("message", "");
      a["deployments"][dname] = d;
    }
    out["applications"][name] = a;
  }
  return out;
}

int print_error(const char* prog, const caf::error& err) {
  std::cerr << prog << ": " << message_of(err) << std::endl;
  return code_of(err) == errc::invalid_config ? 2 : 1;
}

/// An error answer of the admin API as a message.
int print_refusal(const char* prog, const http_reply& r) {
  auto j = json::parse(r.body, nullptr, false);
  std::cerr << prog << ": the server answered " << r.status << ": "
            << (j.is_object() ? j.value("error", r.body) : r.body) << std::endl;
  return r.status == 400 ? 2 : 1;
}

int run_server(const char* prog, const std::string& path,
               const std::vector<std::string>& flags, const app_registry& apps,
               serve_options opts) {
  auto cfg = load_deploy_config(path);
  if (!cfg)
    return print_error(prog, cfg.error());
  apply_server_options(*cfg, opts);
  std::vector<const char*> args{prog};
  for (auto& f : flags)
    args.push_back(f.c_str());
  auto parsed = parse_options(static_cast<int>(args.size()), args.data(), opts);
  if (!parsed)
    return print_error(prog, parsed.error());
  try {
    serve s{*parsed};
    s.set_app_registry(apps);
    // With a state store, what was deployed since the last start from the
    // same file comes back instead.
    if (auto err = s.deploy_at_start(*cfg, apps))
      return print_error(prog, err);
    std::cout << "actorserve: serving on "
              << (s.options().http.tls() ? "https://" : "http://")
              << s.options().http.host
              << ":" << s.http_port() << std::endl;
    if (s.admin_port() != 0)
      std::cout << "actorserve: admin API on http://" << s.options().admin.host
                << ":" << s.admin_port() << "/api/serve/applications/"
                << std::endl;
    return s.wait();
  } catch (const error_exception& e) {
    std::cerr << prog << ": " << e.what() << std::endl;
    return 2;
  }
}

const std::string apps_path = "/api/serve/applications/";

/// `deploy CONFIG`: the config's JSON form, PUT to the admin API.
int cli_deploy(const char* prog, const detail::admin_target& target,
               const std::string& config_path) {
  auto cfg = load_deploy_config(config_path);
  if (!cfg)
    return print_error(prog, cfg.error());
  auto r = admin_call(target, "PUT", apps_path, detail::dump_json(cfg->source));
  if (!r)
    return print_error(prog, r.error());
  if (r->status != 200)
    return print_refusal(prog, *r);
  std::cout << "deployed " << cfg->applications.size()
            << " application(s) from " << config_path << std::endl;
  return 0;
}

/// `shutdown`: asks first unless `yes`, then DELETEs every application.
int cli_shutdown(const char* prog, const detail::admin_target& target,
                 bool yes) {
  if (!yes) {
    std::cout << "This deletes every application of the server at "
              << target.host << ":" << target.port << ". Continue? [y/N] "
              << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      std::cout << "nothing was changed" << std::endl;
      return 1;
    }
  }
  auto r = admin_call(target, "DELETE", apps_path);
  if (!r)
    return print_error(prog, r.error());
  if (r->status != 200)
    return print_refusal(prog, *r);
  std::cout << "every application was deleted" << std::endl;
  return 0;
}

/// `status` (as `serve status` prints it) or `config` (what the server
/// last applied), as YAML.
int cli_show(const char* prog, const detail::admin_target& target,
             bool status) {
  auto r = admin_call(target, "GET", apps_path);
  if (!r)
    return print_error(prog, r.error());
  if (r->status != 200)
    return print_refusal(prog, *r);
  auto st = json::parse(r->body, nullptr, false);
  if (st.is_discarded()) {
    std::cerr << prog << ": the server's answer is not JSON" << std::endl;
    return 1;
  }
  YAML::Emitter out;
  if (status) {
    emit(out, ray_status(st));
  } else {
    json apps_cfg = json::array();
    auto applications = st.value("applications", json::object());
    for (auto& [name, app] : applications.items())
      if (app.contains("deployed_app_config"))
        apps_cfg.push_back(app["deployed_app_config"]);
    emit(out, json{{"applications", apps_cfg}});
  }
  std::cout << out.c_str() << std::endl;
  return 0;
}

/// How a subcommand reaches the running server's admin API.
struct admin_flags {
  detail::admin_target target;
  std::string token_file;
  double timeout_s = 120;

  void declare(CLI::App* sub) {
    sub->add_option("--admin-host", target.host, "the server's admin address")
        ->capture_default_str();
    sub->add_option("--admin-port", target.port, "the server's admin port")
        ->capture_default_str();
    sub->add_option("--admin-token-file", token_file,
                    "the admin API's bearer token (else "
                    "ACTORSERVE_ADMIN_TOKEN)");
    sub->add_option("--timeout-s", timeout_s,
                    "give up when the server has not answered by then")
        ->capture_default_str()
        ->check(CLI::Range(0.001, 86400.0));
  }

  /// The timeout and the token (from its file, else the environment).
  caf::error finish() {
    target.timeout =
        std::chrono::milliseconds{static_cast<int64_t>(timeout_s * 1000)};
    if (!token_file.empty())
      return read_token_file(token_file, "--admin-token-file", target.token);
    if (auto env = std::getenv("ACTORSERVE_ADMIN_TOKEN"))
      target.token = env;
    return {};
  }
};

} // namespace

int run_cli(int argc, char** argv, const app_registry& apps,
            serve_options defaults) {
  const char* prog = argc > 0 ? argv[0] : "actorserve";
  CLI::App app{"Runs and manages this binary's applications, as Ray's "
               "`serve` command does."};
  app.require_subcommand(1);
  std::string config_path;
  admin_flags admin;
  bool yes = false;
  auto run = app.add_subcommand(
      "run", "start the server with CONFIG.yaml and block; Ctrl-C drains and "
             "exits 0 (server flags after the file override its options)");
  run->add_option("config", config_path, "the config file")->required();
  run->allow_extras();
  run->footer(usage_text(defaults));
  auto deploy = app.add_subcommand(
      "deploy", "send CONFIG.yaml to a running server (declarative: "
                "applications not listed are deleted)");
  deploy->add_option("config", config_path, "the config file")->required();
  auto status = app.add_subcommand(
      "status", "print the running server's status (as `serve status`)");
  auto config = app.add_subcommand(
      "config", "print the config the running server last applied");
  auto shutdown = app.add_subcommand(
      "shutdown", "delete every application of the running server");
  shutdown->add_flag("-y,--yes", yes, "do not ask first");
  for (auto* sub : {deploy, status, config, shutdown})
    admin.declare(sub);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (auto err = admin.finish())
    return print_error(prog, err);
  if (run->parsed())
    return run_server(prog, config_path, run->remaining(), apps,
                      std::move(defaults));
  if (deploy->parsed())
    return cli_deploy(prog, admin.target, config_path);
  if (shutdown->parsed())
    return cli_shutdown(prog, admin.target, yes);
  // status or config: one subcommand is required.
  return cli_show(prog, admin.target, !config->parsed());
}

} // namespace actorserve
