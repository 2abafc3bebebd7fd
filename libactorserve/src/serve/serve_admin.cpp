// serve's answers to the admin API's declarative changes (PUT and DELETE
// of /api/serve/applications/) and the config they applied.
#include <mutex>

#include <nlohmann/json.hpp>

#include "actorserve/deploy_config.hpp"
#include "serve/serve_impl.hpp"
#include "base/text.hpp"

namespace actorserve {

detail::admin_hooks serve::admin_hooks() {
  detail::admin_hooks hooks;
  hooks.deploy = [this](const std::string& body) -> caf::error {
    const app_registry* apps = nullptr;
    {
      std::lock_guard<std::mutex> guard{impl_->config_mtx};
      apps = impl_->apps;
    }
    if (apps == nullptr)
      return make_error(errc::invalid_config,
                        "this server builds no applications by name (start "
                        "it with actorserve::run_cli)");
    auto cfg = parse_deploy_config(body, "the request body");
    if (!cfg)
      return std::move(cfg.error());
    return deploy(*cfg, *apps);
  };
  hooks.delete_all = [this]() -> caf::error {
    if (auto err = store_refuses())
      return err;
    auto st = status();
    if (!st)
      return std::move(st.error());
    for (auto& app : st->applications)
      if (auto r = remove(app.name); !r)
        return std::move(r.error());
    set_deployed_config(nullptr);
    return persisted();
  };
  hooks.config = [this] { return deployed_config(); };
  hooks.may_change = [this] { return store_refuses(); };
  if (impl_->writer)
    hooks.persisted = [this] { return persisted(); };
  return hooks;
}

void serve::set_app_registry(const app_registry& apps) {
  std::lock_guard<std::mutex> guard{impl_->config_mtx};
  impl_->apps = &apps;
}

void serve::set_deployed_config(const nlohmann::json& source) {
  auto text = detail::dump_json(source);
  std::lock_guard<std::mutex> guard{impl_->config_mtx};
  impl_->deployed_config = text;
  if (impl_->writer) { // kept with the controller's state
    detail::store_batch b;
    b.puts.emplace("v1/serve/deployed_config", std::move(text));
    impl_->writer->submit(std::move(b));
  }
}

std::string serve::deployed_config() const {
  std::lock_guard<std::mutex> guard{impl_->config_mtx};
  return impl_->deployed_config;
}

} // namespace actorserve
