// POST /stream and GET /stream/stats: the seed's TokenStreamer. The ingress
// deployment asks a generator deployment for a stream of tokens through a
// handle and hands it to the HTTP ingress as Server-Sent Events; the
// generator counts what it started, finished, and had cancelled.
#include <atomic>
#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "actorserve/actorserve.hpp"
#include "demo.hpp"

using namespace actorserve;
using json = nlohmann::json;

namespace demo {

namespace {

using stats_atom = caf::atom_constant<caf::atom("stats")>;

/// Counted by the generator deployment, over all its replicas.
struct stream_stats {
  std::atomic<int64_t> started{0};
  std::atomic<int64_t> finished{0};
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> cancelled{0};
  std::atomic<int64_t> chunks_produced{0};
};

using stats_ptr = std::shared_ptr<stream_stats>;

/// generate(prompt, n, delay_ms, fail_at) streams n tokens, one every
/// delay_ms; fail_at >= 0 throws at that chunk.
using generator_actor =
    caf::typed_actor<caf::replies_to<std::string, int32_t, int32_t,
                                     int32_t>::with<stream<std::string>>,
                     caf::replies_to<stats_atom>::with<std::string>>;

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in{text};
  for (std::string w; in >> w;)
    words.push_back(w);
  if (words.empty())
    words.emplace_back("...");
  return words;
}

generator_actor::behavior_type generator(generator_actor::pointer self,
                                         stats_ptr stats) {
  return {
      [=](const std::string& prompt, int32_t n, int32_t delay_ms,
          int32_t fail_at) {
        ++stats->started;
        // The consumer went away (or stopped): count it once.
        on_cancel(self, [stats] { ++stats->cancelled; });
        return make_stream<std::string>(
            self, [=, i = int32_t{0}, words = words_of(prompt)](
                      stream_out<std::string>& out) mutable {
              if (i == fail_at) {
                ++stats->failed;
                throw std::runtime_error("the generator failed at chunk " +
                                         std::to_string(i));
              }
              if (i == n) {
                ++stats->finished;
                return out.close();
              }
              out.push(
                  json{{"index", i},
                       {"token", words[static_cast<size_t>(i) % words.size()]}}
                      .dump());
              ++stats->chunks_produced;
              ++i;
              if (delay_ms > 0)
                out.pause(std::chrono::milliseconds(delay_ms));
            });
      },
      [=](stats_atom) {
        return json{{"started", stats->started.load()},
                    {"finished", stats->finished.load()},
                    {"failed", stats->failed.load()},
                    {"cancelled", stats->cancelled.load()},
                    {"chunks_produced", stats->chunks_produced.load()}}
            .dump();
      },
  };
}

/// The TokenStreamer: POST / with {"prompt", "n", "delay_ms", "fail_at"}
/// answers an SSE stream; GET /stats reports the generator's counts.
http_ingress::behavior_type token_streamer(http_ingress::pointer self,
                                           handle<generator_actor> gen) {
  http_routes routes;
  routes.post("/", [=](http_request& req) -> reply {
    auto body = parse_json(req);
    auto prompt = json_field<std::string>(body, "prompt");
    auto n = json_field<int32_t>(body, "n", 20);
    auto delay_ms = json_field<int32_t>(body, "delay_ms", 10);
    auto fail_at = json_field<int32_t>(body, "fail_at", -1);
    if (n < 0 || n > 1'000'000 || delay_ms < 0 || delay_ms > 60'000)
      throw error_exception(errc::bad_request,
                            "'n' must be in [0, 1000000] and 'delay_ms' in "
                            "[0, 60000]");
    auto rp = self->make_response_promise<http_response>();
    gen.call(self, prompt, n, delay_ms, fail_at)
        .then([=](stream<std::string>& tokens) mutable {
          rp.deliver(sse_response(tokens));
        });
    return rp;
  });
  routes.get("/stats", [=](http_request&) -> reply {
    auto rp = self->make_response_promise<http_response>();
    gen.call(self, stats_atom::value).then([=](std::string& text) mutable {
      rp.deliver(http_response{
          200, "application/json", {}, text, body_mode::whole, {}});
    });
    return rp;
  });
  return {routes.handler()};
}

} // namespace

namespace {

auto build_streaming(serve& s) {
  auto gen = s.deployment("Generator", generator)
                 .num_replicas(2)
                 .max_ongoing_requests(100)
                 .bind(std::make_shared<stream_stats>());
  return s.deployment("TokenStreamer", token_streamer)
      .max_ongoing_requests(1000)
      .bind(gen);
}

} // namespace

caf::error run_streaming(serve& s) {
  auto h = s.run(build_streaming(s), {"stream", "/stream"});
  return h ? caf::error{} : std::move(h.error());
}

void add_streaming_apps(app_registry& apps) {
  apps.add("demo:stream",
           [](serve& s, const nlohmann::json&) { return build_streaming(s); });
}

} // namespace demo
