/// @file
/// The demo application: the Ray Serve seed examples as actorserve
/// deployments. `tools/demo` serves it; the end-to-end tests run it too.
#pragma once

#include <cstdint>

#include <caf/error.hpp>

#include "actorserve/http_types.hpp"

namespace actorserve {
class serve;
class app_registry;
} // namespace actorserve

namespace demo {

/// Runs every demo application on `serve`:
///
/// | route | application | deployments |
/// |---|---|---|
/// | POST /classify | classify | Classifier (ingress) -> Tokenizer x2 |
/// | POST /pipeline | pipeline | Pipeline (ingress) -> Preprocessor, Model |
/// | POST /ensemble | ensemble | Ensemble (ingress) -> ModelA, ModelB in
/// parallel | | POST /route    | route    | Dispatcher (ingress) -> FastModel
/// or SlowModel | | GET /blocking  | blocking | Sleeper (sync handler, 1
/// replica, 4 ongoing, 4 queued) |
///
/// | POST /stream | stream | TokenStreamer (ingress) -> Generator x2, SSE |
/// | GET /stream/stats | stream | the Generator's counts |
/// | POST /flaky, /flaky/sick, /flaky/crash | flaky | Flaky x2, health checks
/// every 500 ms, version "1" |
/// | GET /autoscale?ms=N | autoscale | Worker, autoscaled 1..4 (target 2) |
/// | POST /batch | batch | Batcher: batches of up to 10, a blocking model |
/// | POST /multi | multi | MultiModel x2, 2 models each, by header |
/// | POST /models/{id}/predict | models | ModelIngress -> ModelRouter x2 |
///
/// Returns the first error (e.g. an invalid config, naming the field).
caf::error run_all(actorserve::serve& serve);

/// Registers every demo application's builder under `demo:NAME` (NAME as in
/// the table above), for config files (apps/demo/serve_config.yaml).
/// `demo:classify` takes `args: {tokenizers: N}`.
void register_apps(actorserve::app_registry& apps);

// Each file's share of `register_apps`.
void add_flaky_apps(actorserve::app_registry& apps);
void add_batching_apps(actorserve::app_registry& apps);
void add_multiplexing_apps(actorserve::app_registry& apps);
void add_streaming_apps(actorserve::app_registry& apps);

/// Runs the health-check application alone (part of `run_all`).
caf::error run_flaky(actorserve::serve& serve);

/// Runs the two multiplexing applications alone (part of `run_all`).
caf::error run_multiplexing(actorserve::serve& serve);

/// Runs the batching application alone (part of `run_all`).
caf::error run_batching(actorserve::serve& serve);

/// Runs the autoscaling application alone (part of `run_all`).
caf::error run_autoscale(actorserve::serve& serve);

/// The `ms` query parameter of a sleeping route, checked: 0..60000.
int64_t sleep_ms_of(const actorserve::http_request& req);

/// Runs the streaming application alone (part of `run_all`).
caf::error run_streaming(actorserve::serve& serve);

} // namespace demo
