// The demo server: `tools/demo` builds and runs it on 127.0.0.1:8000.
#include <iostream>

#include "actorserve/actorserve.hpp"
#include "demo.hpp"

int main(int argc, char** argv) {
  actorserve::serve_options defaults;
  // The demo answers 408 for requests that take longer than 3 s.
  defaults.http.request_timeout = std::chrono::seconds(3);
  actorserve::serve serve{argc, argv, defaults};
  if (auto err = demo::run_all(serve))
    return serve.fail(err);
  if (serve.node_id() != 0) {
    // A worker node: the head places replicas here and serves HTTP.
    std::cout << "actorserve demo: worker node " << serve.node_id()
              << " of the head at " << serve.options().cluster.join
              << std::endl;
    if (serve.http_port() != 0) // --proxy
      std::cout << "actorserve demo: worker proxy serving on http://"
                << serve.options().http.host << ":" << serve.http_port()
                << std::endl;
    return serve.wait();
  }
  std::cout << "actorserve demo: serving on http://"
            << serve.options().http.host << ":" << serve.http_port()
            << std::endl;
  if (serve.admin_port() != 0)
    std::cout << "actorserve demo: admin API on http://"
              << serve.options().admin.host << ":" << serve.admin_port()
              << "/api/serve/applications/" << std::endl;
  return serve.wait();
}
