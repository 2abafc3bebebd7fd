/// @file
/// The live dashboard: one self-contained HTML page (HTML, CSS and vanilla
/// JavaScript inline; no CDN, no external asset) that the admin server
/// answers at `GET /`.
///
/// The page follows `GET /api/dashboard/events` (Server-Sent Events, one
/// event a second carrying the status JSON and the Prometheus text of
/// `/-/metrics`), or, when that stream fails, polls
/// `GET /api/serve/applications/` and `GET /-/metrics` every second. It
/// shows applications, deployments, replicas and nodes, and computes per
/// deployment QPS and p50/p99 processing latency from the deltas between
/// successive metric snapshots, with sparklines of the last 60 samples.
#pragma once

#include <string_view>

namespace actorserve::detail {

/// The dashboard page, UTF-8 HTML; serve it as `text/html; charset=utf-8`.
/// The view refers to static storage.
std::string_view dashboard_html() noexcept;

/// The page's script, in two parts (dashboard_script_data.cpp and
/// dashboard_script_view.cpp); `dashboard_html` includes both.
std::string_view dashboard_script_data() noexcept;
std::string_view dashboard_script_view() noexcept;

} // namespace actorserve::detail
