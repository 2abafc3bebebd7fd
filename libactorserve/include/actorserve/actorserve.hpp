/// @file
/// Everything an application needs. Apps include this; the library and tests
/// include the headers they use.
#pragma once

#include "actorserve/app_registry.hpp"
#include "actorserve/batching.hpp"
#include "actorserve/cli.hpp"
#include "actorserve/config.hpp"
#include "actorserve/controller.hpp"
#include "actorserve/deploy_config.hpp"
#include "actorserve/deployment.hpp"
#include "actorserve/error.hpp"
#include "actorserve/fwd.hpp"
#include "actorserve/handle.hpp"
#include "actorserve/http.hpp"
#include "actorserve/http_types.hpp"
#include "actorserve/messages.hpp"
#include "actorserve/metrics.hpp"
#include "actorserve/multiplexing.hpp"
#include "actorserve/serve.hpp"
#include "actorserve/stream.hpp"
#include "actorserve/stream_reader.hpp"
#include "actorserve/replica_api.hpp"
#include "actorserve/user_metrics.hpp"
