/// @file
/// The `actorserve` command line (Ray's `serve` CLI habits) for a user's
/// binary: a `main()` that registers its applications and hands over.
///
/// ```cpp
/// int main(int argc, char** argv) {
///   actorserve::app_registry apps;
///   apps.add("demo:classify", build_classify);
///   return actorserve::run_cli(argc, argv, apps);
/// }
/// ```
///
/// | command | what it does |
/// |---|---|
/// | `run CONFIG.yaml [server flags]` | starts the server with the config's
/// options (flags override them), deploys its applications, blocks; Ctrl-C
/// drains and exits 0 | | `deploy CONFIG.yaml` | checks the config here, then
/// sends it to a running server (`PUT /api/serve/applications/`): declarative,
/// applications not listed are deleted | | `status` | the running server's
/// status, in the shape of Ray's `serve status` | | `config` | the config the
/// running server last applied | | `shutdown [-y]` | deletes every application
/// (asks first unless `-y`) |
///
/// `deploy`, `status`, `config` and `shutdown` reach the server's admin API
/// at `--admin-host` (127.0.0.1) and `--admin-port` (8265), the part Ray's
/// `--address` plays. Exit status: 0 done, 1 the server refused or could
/// not be reached, 2 bad usage or a bad config.
#pragma once

#include "actorserve/app_registry.hpp"
#include "actorserve/serve.hpp"

namespace actorserve {

/// Runs the command in `argv`; returns the process's exit status.
/// `defaults` are the server options before the config and flags.
int run_cli(int argc, char** argv, const app_registry& apps,
            serve_options defaults = {});

} // namespace actorserve
