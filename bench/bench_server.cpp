// The actorserve side of the HTTP benchmark scenarios.
//   bench_server [--app noop|echo] [--mode isolated|inline] [--replicas N]
//                [actorserve flags: --port, --threads, ...]
//
// noop: one deployment answering "ok" (the HTTP I/O thread routes for
//       itself -> replica -> user actor and back).
// echo: the two-deployment chain of Ray Serve's published benchmark: an
//       ingress deployment reads the body and passes it through a handle to
//       an Echo deployment, then returns the echoed bytes.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "actorserve/actorserve.hpp"

using namespace actorserve;

namespace {

http_ingress::behavior_type noop(http_ingress::pointer) {
  return {[](http_request&) -> reply {
    http_response res;
    res.content_type = "text/plain";
    res.body = "ok";
    return res;
  }};
}

using echo_actor =
    caf::typed_actor<caf::replies_to<std::string>::with<std::string>>;

echo_actor::behavior_type echo(echo_actor::pointer) {
  return {[](std::string& body) { return std::move(body); }};
}

http_ingress::behavior_type echo_ingress(http_ingress::pointer self,
                                         handle<echo_actor> target) {
  return {[=](http_request& req) -> reply {
    auto rp = self->make_response_promise<http_response>();
    target.call(self, std::move(req.body))
        .then(
            [=](std::string& body) mutable {
              http_response res;
              res.content_type = "application/octet-stream";
              res.body = std::move(body);
              rp.deliver(std::move(res));
            },
            [=](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return rp;
  }};
}

struct bench_flags {
  std::string app = "noop";
  execution mode = execution::isolated;
  uint32_t replicas = 1;
  std::vector<char*> rest; // left for actorserve's own flags
};

bench_flags parse(int argc, char** argv) {
  bench_flags f;
  f.rest.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    auto is = [&](const char* flag) {
      return std::strcmp(argv[i], flag) == 0 && i + 1 < argc;
    };
    if (is("--app")) {
      f.app = argv[++i];
    } else if (is("--mode")) {
      f.mode = std::strcmp(argv[++i], "inline") == 0 ? execution::inline_
                                                     : execution::isolated;
    } else if (is("--replicas")) {
      f.replicas = static_cast<uint32_t>(std::atoi(argv[++i]));
    } else {
      f.rest.push_back(argv[i]);
    }
  }
  if (f.app != "noop" && f.app != "echo") {
    std::cerr << "bench_server: --app must be noop or echo\n";
    std::exit(2);
  }
  return f;
}

} // namespace

int main(int argc, char** argv) {
  auto flags = parse(argc, argv);
  serve_options defaults;
  defaults.admin.enabled = false; // Ray's dashboard may hold 8265
  defaults.http.port = 8101;
  serve s{static_cast<int>(flags.rest.size()), flags.rest.data(), defaults};
  caf::expected<handle<http_ingress>> h{caf::error{}};
  if (flags.app == "noop") {
    h = s.run(s.deployment("Noop", noop)
                  .num_replicas(flags.replicas)
                  .max_ongoing_requests(1000)
                  .mode(flags.mode)
                  .bind(),
              {"noop", "/"});
  } else {
    auto target = s.deployment("Echo", echo)
                      .num_replicas(flags.replicas)
                      .max_ongoing_requests(1000)
                      .mode(flags.mode)
                      .bind();
    h = s.run(s.deployment("Ingress", echo_ingress)
                  .max_ongoing_requests(1000)
                  .mode(flags.mode)
                  .bind(target),
              {"echo", "/"});
  }
  if (!h)
    return s.fail(h.error());
  std::cout << "bench_server: serving " << flags.app << " on port "
            << s.http_port() << " (" << to_string(flags.mode) << ")"
            << std::endl;
  return s.wait();
}
