// The no-op deployment path: HTTP ingress -> router -> replica -> user actor
// and back, with a handler that does nothing.
//   noop_server [--mode isolated|inline] [--replicas N] [actorserve flags]
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "actorserve/actorserve.hpp"

using namespace actorserve;

http_ingress::behavior_type noop(http_ingress::pointer) {
  return {[](http_request&) -> reply {
    http_response res;
    res.content_type = "text/plain";
    res.body = "ok";
    return res;
  }};
}

int main(int argc, char** argv) {
  execution mode = execution::isolated;
  uint32_t replicas = 1;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
      mode = std::strcmp(argv[++i], "inline") == 0 ? execution::inline_
                                                   : execution::isolated;
    } else if (std::strcmp(argv[i], "--replicas") == 0 && i + 1 < argc) {
      replicas = static_cast<uint32_t>(std::atoi(argv[++i]));
    } else {
      rest.push_back(argv[i]);
    }
  }
  serve_options defaults;
  defaults.http.port = 8101;
  serve s{static_cast<int>(rest.size()), rest.data(), defaults};
  auto app = s.deployment("Noop", noop)
                 .num_replicas(replicas)
                 .max_ongoing_requests(1000)
                 .mode(mode)
                 .bind();
  if (auto h = s.run(app, {"noop", "/"}); !h)
    return s.fail(h.error());
  std::cout << "noop_server: serving on port " << s.http_port() << " ("
            << to_string(mode) << ")" << std::endl;
  return s.wait();
}
