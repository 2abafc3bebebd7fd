// The demo server: `tools/demo` builds and runs it on 127.0.0.1:8000.
//
//   actorserve-demo [server flags]          every demo application
//   actorserve-demo run apps/demo/serve_config.yaml [server flags]
//   actorserve-demo deploy|status|config|shutdown ...   (the actorserve CLI)
#include <cstring>
#include <iostream>

#include "actorserve/actorserve.hpp"
#include "demo.hpp"

int main(int argc, char** argv) {
  actorserve::serve_options defaults;
  // The demo answers 408 for requests that take longer than 3 s.
  defaults.http.request_timeout = std::chrono::seconds(3);
  defaults.usage =
      "commands (the actorserve CLI; COMMAND --help for its flags):\n"
      "  run CONFIG [flags]       serve apps/demo/serve_config.yaml or "
      "another config\n"
      "  deploy CONFIG            send a config to a running server\n"
      "  status                   the running server's status\n"
      "  config                   the config it last applied\n"
      "  shutdown [-y]            delete every application\n";
  if (argc > 1)
    for (auto cmd : {"run", "deploy", "status", "config", "shutdown"})
      if (std::strcmp(argv[1], cmd) == 0) {
        static actorserve::app_registry apps; // outlives the server
        demo::register_apps(apps);
        return actorserve::run_cli(argc, argv, apps, defaults);
      }
  actorserve::serve serve{argc, argv, defaults};
  if (auto err = demo::run_all(serve))
    return serve.fail(err);
  if (serve.node_id() != 0) {
    // A worker node: the head places replicas here and serves HTTP.
    std::cout << "actorserve demo: worker node " << serve.node_id()
              << " of the head at " << serve.options().cluster.join
              << std::endl;
    if (serve.http_port() != 0) // --proxy
      std::cout << "actorserve demo: worker proxy serving on "
                << (serve.options().http.tls() ? "https://" : "http://")
                << serve.options().http.host << ":" << serve.http_port()
                << std::endl;
    return serve.wait();
  }
  std::cout << "actorserve demo: serving on "
            << (serve.options().http.tls() ? "https://" : "http://")
            << serve.options().http.host << ":" << serve.http_port()
            << std::endl;
  if (serve.admin_port() != 0)
    std::cout << "actorserve demo: admin API on http://"
              << serve.options().admin.host << ":" << serve.admin_port()
              << "/api/serve/applications/" << std::endl;
  return serve.wait();
}
