// The actorserve side of the HTTP benchmark scenarios.
//   bench_server [--app noop|echo|multiplex] [--mode isolated|inline]
//                [--replicas N] [--remote-echo]
//                [actorserve flags: --port, --threads, --join, ...]
//
// noop: one deployment answering "ok" (the HTTP I/O thread routes for
//       itself -> replica -> user actor and back).
// echo: the two-deployment chain of Ray Serve's published benchmark: an
//       ingress deployment reads the body and passes it through a handle to
//       an Echo deployment, then returns the echoed bytes.
// multiplex: model multiplexing; N replicas (default 2), each holding at
//       most 3 models that take 50 ms to load. The model comes from the
//       header serve_multiplexed_model_id, which routing sees, or from
//       x-model-id, which it does not (the model-unaware baseline). Answers
//       {"hit": bool}: whether the replica held the model when the request
//       arrived.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <iostream>
#include <string>
#include <thread>
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

struct bench_model {
  std::string id;
};

http_ingress::behavior_type multiplex(http_ingress::pointer self) {
  auto models = make_multiplexed<bench_model>(
      self, multiplex_options{3},
      [](const std::string& id) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return std::make_shared<bench_model>(bench_model{id});
      },
      [](const std::string&, std::shared_ptr<bench_model>) {});
  return {[=](http_request& req) -> reply {
    auto id = multiplexed_model_id(self);
    if (id.empty())
      id = req.header("x-model-id");
    auto held = models.loaded();
    bool hit = std::find(held.begin(), held.end(), id) != held.end();
    return models.with<http_response>(id, [hit](bench_model&, bool) {
      http_response res;
      res.content_type = "application/json";
      res.body = hit ? "{\"hit\":true}" : "{\"hit\":false}";
      return res;
    });
  }};
}

struct bench_flags {
  std::string app = "noop";
  execution mode = execution::isolated;
  uint32_t replicas = 0; // 0: the app's default
  /// The echo chain's Echo needs the custom resource "echo_node", which
  /// only a worker node started with --resources '{"echo_node": 1}' offers:
  /// Echo runs there, the Ingress on the head.
  bool remote_echo = false;
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
    } else if (std::strcmp(argv[i], "--remote-echo") == 0) {
      f.remote_echo = true;
    } else {
      f.rest.push_back(argv[i]);
    }
  }
  if (f.app != "noop" && f.app != "echo" && f.app != "multiplex") {
    std::cerr << "bench_server: --app must be noop, echo or multiplex\n";
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
  auto replicas = [&](uint32_t fallback) {
    return flags.replicas > 0 ? flags.replicas : fallback;
  };
  if (flags.app == "noop") {
    h = s.run(s.deployment("Noop", noop)
                  .num_replicas(replicas(1))
                  .max_ongoing_requests(1000)
                  .mode(flags.mode)
                  .bind(),
              {"noop", "/"});
  } else if (flags.app == "multiplex") {
    h = s.run(s.deployment("Models", multiplex)
                  .num_replicas(replicas(2))
                  .max_ongoing_requests(100)
                  .mode(flags.mode)
                  .bind(),
              {"multiplex", "/"});
  } else {
    auto target =
        s.deployment("Echo", echo)
            .resources(flags.remote_echo
                           ? std::map<std::string, double>{{"echo_node", 1}}
                           : std::map<std::string, double>{})
            .num_replicas(replicas(1))
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
  if (s.node_id() != 0) {
    std::cout << "bench_server: worker node " << s.node_id() << std::endl;
    return s.wait();
  }
  std::cout << "bench_server: serving " << flags.app << " on port "
            << s.http_port() << " (" << to_string(flags.mode) << ")"
            << std::endl;
  return s.wait();
}
