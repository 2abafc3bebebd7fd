// The CLI's config file, the way `actorserve run FILE` and `actorserve
// deploy FILE` read it: the config is parsed, its server options are
// applied and checked as flags are, and what `deploy` sends (the config as
// JSON) must parse on the server as the same config.
#include "actorserve/deploy_config.hpp"
#include "actorserve/error.hpp"
#include "actorserve/serve.hpp"
#include "check.hpp"
#include "base/text.hpp"

using namespace actorserve;

namespace {

void check_run(const deploy_config& cfg, const std::string& text) {
  serve_options opts;
  apply_server_options(cfg, opts);
  const char* argv[] = {"actorserve"};
  auto parsed = parse_options(1, argv, opts);
  if (!parsed)
    fuzz::require(code_of(parsed.error()) == errc::invalid_config,
                  "bad server options are invalid_config", text);
}

void check_deploy(const deploy_config& cfg, const std::string& text) {
  std::string body;
  try {
    body = detail::dump_json(cfg.source); // what `actorserve deploy` sends
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exception: %s\n", e.what());
    fuzz::require(false, "a parsed config can be sent as JSON", text);
  }
  auto again = parse_deploy_config(body, "the request body");
  if (!again)
    std::fprintf(stderr, "the server says: %s\n",
                 message_of(again.error()).c_str());
  fuzz::require(static_cast<bool>(again),
                "the server accepts the config the CLI accepted", text);
  fuzz::require(again->applications.size() == cfg.applications.size(),
                "the server sees the same applications", text);
  // Text that is not UTF-8 reaches the server as U+FFFD.
  auto same = [](const std::string& x, const std::string& y) {
    return detail::to_valid_utf8(x) == y;
  };
  for (size_t i = 0; i < cfg.applications.size(); ++i) {
    auto& x = cfg.applications[i];
    auto& y = again->applications[i];
    fuzz::require(same(x.name, y.name) && same(x.route_prefix, y.route_prefix) &&
                      same(x.import_path, y.import_path) &&
                      x.deployments.size() == y.deployments.size(),
                  "the server sees the same application", text);
    for (size_t k = 0; k < x.deployments.size(); ++k)
      fuzz::require(same(x.deployments[k].name, y.deployments[k].name) &&
                        x.deployments[k].num_replicas ==
                            y.deployments[k].num_replicas &&
                        x.deployments[k].version.has_value() ==
                            y.deployments[k].version.has_value() &&
                        same(x.deployments[k].version.value_or(""),
                             y.deployments[k].version.value_or("")),
                    "the server sees the same deployment", text);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  caf::expected<deploy_config> cfg{caf::error{}};
  try {
    cfg = parse_deploy_config(text, "serve_config.yaml");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exception: %s\n", e.what());
    fuzz::require(false, "parse_deploy_config never throws", text);
  }
  if (!cfg)
    return 0; // the config harness checks the errors
  check_run(*cfg, text);
  check_deploy(*cfg, text);
  return 0;
}
