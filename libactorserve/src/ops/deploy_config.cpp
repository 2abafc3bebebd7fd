// The declarative config file: YAML to `deploy_config`, every key checked,
// every error with its line and path.
#include "actorserve/deploy_config.hpp"

#include <fstream>
#include <set>

#include "actorserve/controller.hpp"
#include "actorserve/error.hpp"
#include "actorserve/placement.hpp"
#include "actorserve/serve.hpp"
#include "base/text.hpp"
#include "ops/yaml_reader.hpp"

namespace actorserve {

namespace {

using detail::yaml::bad_config;
using detail::yaml::reader;
using json = nlohmann::json;

const std::set<std::string> deployment_keys{"name",
                                            "num_replicas",
                                            "max_ongoing_requests",
                                            "max_queued_requests",
                                            "user_config",
                                            "version",
                                            "autoscaling_config",
                                            "health_check_period_s",
                                            "health_check_timeout_s",
                                            "graceful_shutdown_timeout_s",
                                            "startup_timeout_s",
                                            "reconfigure_timeout_s",
                                            "ray_actor_options",
                                            "max_replicas_per_node"};

deployment_override read_deployment(const reader& r, const YAML::Node& n,
                                    const std::string& path) {
  r.keys(n, path, deployment_keys);
  deployment_override d;
  d.where = path;
  if (!n["name"])
    r.fail(n, path + ".name", "is required");
  d.name = r.text(n["name"], path + ".name");
  for (auto it = n.begin(); it != n.end(); ++it) {
    auto key = it->first.Scalar();
    YAML::Node v = it->second;
    auto p = reader::join(path, key);
    if (key == "num_replicas")
      d.num_replicas = static_cast<uint32_t>(r.integer(v, p, 1, 1'000'000));
    else if (key == "max_ongoing_requests")
      d.max_ongoing_requests =
          static_cast<uint32_t>(r.integer(v, p, 1, 1'000'000));
    else if (key == "max_queued_requests")
      d.max_queued_requests = r.integer(v, p, -1, 1'000'000'000);
    else if (key == "user_config")
      d.user_config = detail::dump_json(reader::to_json(v));
    else if (key == "version")
      d.version = r.text(v, p);
    else if (key == "health_check_period_s")
      d.health_check_period = r.seconds(v, p);
    else if (key == "health_check_timeout_s")
      d.health_check_timeout = r.seconds(v, p);
    else if (key == "graceful_shutdown_timeout_s")
      d.graceful_shutdown_timeout = r.seconds(v, p);
    else if (key == "startup_timeout_s")
      d.startup_timeout = r.seconds(v, p);
    else if (key == "reconfigure_timeout_s")
      d.reconfigure_timeout = r.seconds(v, p);
    else if (key == "max_replicas_per_node")
      d.max_replicas_per_node =
          static_cast<uint32_t>(r.integer(v, p, 0, 1'000'000));
    else if (key == "autoscaling_config") {
      if (v.IsNull()) {
        d.disable_autoscaling = true;
        continue;
      }
      if (!v.IsMap())
        r.fail(v, p, "must be a mapping or null");
      auto cfg = autoscaling_from_json(detail::dump_json(reader::to_json(v)));
      if (!cfg) {
        // "autoscaling_config.KEY what": point at KEY's line.
        auto msg = message_of(cfg.error());
        auto dot = msg.find('.');
        auto space = msg.find(' ');
        auto at = v.Mark();
        if (dot != std::string::npos && space != std::string::npos &&
            dot < space) {
          auto sub = msg.substr(dot + 1, space - dot - 1);
          for (auto kv = v.begin(); kv != v.end(); ++kv)
            if (kv->first.Scalar() == sub)
              at = kv->first.Mark();
        }
        r.fail(at, path + "." + msg.substr(0, space),
               space == std::string::npos ? msg : msg.substr(space + 1));
      }
      d.autoscaling = *cfg;
    } else if (key == "ray_actor_options") {
      r.keys(v, p, {"num_cpus", "resources"});
      if (v["num_cpus"])
        d.num_cpus = r.number(v["num_cpus"], p + ".num_cpus", 0, 1e6);
      if (auto res = v["resources"]) {
        std::map<std::string, double> out;
        if (auto err = parse_resources(detail::dump_json(reader::to_json(res)),
                                       p + ".resources", out))
          r.fail(res, p + ".resources", message_of(err));
        d.resources = std::move(out);
      }
    }
  }
  return d;
}

application_config read_application(const reader& r, const YAML::Node& n,
                                    const std::string& path) {
  r.keys(n, path,
         {"name", "route_prefix", "import_path", "args", "deployments"});
  application_config app;
  app.where = path;
  if (!n["import_path"])
    r.fail(n, path + ".import_path", "is required");
  app.import_path = r.text(n["import_path"], path + ".import_path");
  if (n["name"])
    app.name = r.text(n["name"], path + ".name");
  if (app.name.empty())
    r.fail(n["name"], path + ".name", "must not be empty");
  if (auto rp = n["route_prefix"]) {
    app.route_prefix =
        rp.IsNull() ? std::string{} : r.text(rp, path + ".route_prefix");
    if (!app.route_prefix.empty() && app.route_prefix[0] != '/')
      r.fail(rp, path + ".route_prefix", "must start with '/' (or be null)");
  }
  if (auto args = n["args"]) {
    if (!args.IsMap() && !args.IsNull())
      r.fail(args, path + ".args", "must be a mapping");
    if (args.IsMap())
      app.args = reader::to_json(args);
  }
  if (auto deps = n["deployments"]) {
    if (!deps.IsSequence())
      r.fail(deps, path + ".deployments", "must be a list");
    std::set<std::string> seen;
    for (size_t i = 0; i < deps.size(); ++i) {
      auto p = path + ".deployments[" + std::to_string(i) + "]";
      auto d = read_deployment(r, deps[i], p);
      if (!seen.insert(d.name).second)
        r.fail(deps[i]["name"], p + ".name",
               "'" + d.name + "' is listed twice");
      app.deployments.push_back(std::move(d));
    }
  }
  return app;
}

deploy_config read_config(const reader& r, const YAML::Node& root) {
  deploy_config cfg;
  if (root.IsNull())
    return cfg; // an empty file: no change to the options, no apps
  r.keys(root, "",
         {"http_options", "admin_options", "logging_config", "applications"});
  if (auto h = root["http_options"]) {
    r.keys(h, "http_options",
           {"host", "port", "request_timeout_s", "keep_alive_timeout_s"});
    if (h["host"])
      cfg.http_host = r.text(h["host"], "http_options.host");
    if (h["port"])
      cfg.http_port = static_cast<uint16_t>(
          r.integer(h["port"], "http_options.port", 0, 65535));
    if (h["request_timeout_s"])
      cfg.request_timeout =
          r.seconds(h["request_timeout_s"], "http_options.request_timeout_s");
    if (h["keep_alive_timeout_s"])
      cfg.keep_alive_timeout = r.seconds(h["keep_alive_timeout_s"],
                                         "http_options.keep_alive_timeout_s");
  }
  if (auto a = root["admin_options"]) {
    r.keys(a, "admin_options", {"host", "port"});
    if (a["host"])
      cfg.admin_host = r.text(a["host"], "admin_options.host");
    if (a["port"])
      cfg.admin_port = static_cast<uint16_t>(
          r.integer(a["port"], "admin_options.port", 0, 65535));
  }
  if (auto l = root["logging_config"]) {
    r.keys(l, "logging_config", {"encoding", "log_level", "enable_access_log"});
    if (l["encoding"])
      cfg.log_encoding =
          r.choice(l["encoding"], "logging_config.encoding", {"TEXT", "JSON"});
    if (l["log_level"])
      cfg.log_level = r.choice(l["log_level"], "logging_config.log_level",
                               {"DEBUG", "INFO", "WARNING", "ERROR"});
    if (l["enable_access_log"])
      cfg.enable_access_log =
          r.boolean(l["enable_access_log"], "logging_config.enable_access_log");
  }
  if (auto apps = root["applications"]) {
    if (!apps.IsSequence())
      r.fail(apps, "applications", "must be a list");
    std::set<std::string> names;
    std::set<std::string> prefixes;
    for (size_t i = 0; i < apps.size(); ++i) {
      auto p = "applications[" + std::to_string(i) + "]";
      auto app = read_application(r, apps[i], p);
      if (!names.insert(app.name).second)
        r.fail(apps[i], p + ".name", "'" + app.name + "' is listed twice");
      if (!app.route_prefix.empty() &&
          !prefixes.insert(app.route_prefix).second)
        r.fail(apps[i], p + ".route_prefix",
               "'" + app.route_prefix + "' is used by another application");
      cfg.applications.push_back(std::move(app));
    }
  }
  cfg.source = reader::to_json(root);
  return cfg;
}

} // namespace

caf::expected<deploy_config> parse_deploy_config(const std::string& text,
                                                 const std::string& file) {
  if (text.size() > max_config_bytes)
    return make_error(errc::invalid_config,
                      file + ": the config has " + std::to_string(text.size()) +
                          " bytes; the limit is max_config_bytes (" +
                          std::to_string(max_config_bytes) + ")");
  reader r{file};
  try {
    auto root = YAML::Load(text);
    size_t visited = 0;
    detail::yaml::check_budget(r, root, 0, visited, max_config_nodes,
                               max_config_depth);
    // Read once as written, so that errors name the file's lines; then
    // again from the config's JSON form (`deploy_config::source`), which is
    // what `actorserve deploy` sends and the server reads: a plain scalar
    // means the same either way (`version: 1.10` is the number 1.1 in
    // YAML), so `run FILE` and `deploy FILE` configure the same.
    read_config(r, root);
    return read_config(r, YAML::Load(detail::dump_json(reader::to_json(root))));
  } catch (const bad_config& e) {
    return make_error(errc::invalid_config, e.message);
  } catch (const YAML::Exception& e) {
    return make_error(errc::invalid_config,
                      file + ":" + std::to_string(e.mark.line + 1) +
                          ": not valid YAML: " + e.msg);
  } catch (const std::bad_alloc&) {
    return make_error(errc::invalid_config,
                      file + ": the config is too large to read");
  }
}

caf::expected<deploy_config> load_deploy_config(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return make_error(errc::invalid_config,
                      path + ": cannot read the config file");
  // One byte past the limit is enough to say it is too large.
  std::string text(max_config_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return parse_deploy_config(text, path);
}

void apply_server_options(const deploy_config& cfg, serve_options& opts) {
  if (cfg.http_host)
    opts.http.host = *cfg.http_host;
  if (cfg.http_port)
    opts.http.port = *cfg.http_port;
  if (cfg.request_timeout)
    opts.http.request_timeout = *cfg.request_timeout;
  if (cfg.keep_alive_timeout)
    opts.http.keep_alive_timeout = *cfg.keep_alive_timeout;
  if (cfg.admin_host)
    opts.admin.host = *cfg.admin_host;
  if (cfg.admin_port)
    opts.admin.port = *cfg.admin_port;
  if (cfg.log_encoding)
    opts.logging.encoding = *cfg.log_encoding;
  if (cfg.log_level)
    opts.logging.level = *cfg.log_level;
  if (cfg.enable_access_log)
    opts.logging.enable_access_log = *cfg.enable_access_log;
}

} // namespace actorserve
