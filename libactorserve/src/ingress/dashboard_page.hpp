/// @file
/// The live dashboard: one self-contained HTML page (HTML, CSS and vanilla
/// JavaScript inline; no CDN, no external asset) that the admin server
/// answers at `GET /`. Its sources are real files under libactorserve/assets
/// (dashboard.html, dashboard.css, dashboard_data.js, dashboard_view.js),
/// embedded into the library at build time (cmake/embed_assets.cmake); the
/// page inlines the stylesheet and the scripts that dashboard.html links to.
///
/// The page follows `GET /api/dashboard/events` (Server-Sent Events, one
/// event a second carrying the status JSON and the Prometheus text of
/// `/-/metrics`), or, when that stream fails, polls
/// `GET /api/serve/applications/` and `GET /-/metrics` every second. It
/// shows applications, deployments, replicas and nodes, and computes per
/// deployment QPS and p50/p99 processing latency from the deltas between
/// successive metric snapshots, with sparklines of the last 60 samples.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace actorserve::detail {

/// The dashboard page, UTF-8 HTML; serve it as `text/html; charset=utf-8`.
/// The view refers to static storage.
std::string_view dashboard_html() noexcept;

/// A file that an HTML page refers to by a relative path.
struct page_asset {
  std::string_view path;
  std::string_view content;
};

/// `html` with the assets it links to put inline. A line
/// `<link rel="stylesheet" href="P">` becomes `<style>`, P's content and
/// `</style>`; consecutive lines `<script src="P"></script>` become one
/// `<script>` holding their contents, a blank line between two, so that the
/// scripts stay one program. Every other line, and a reference to a path
/// that `assets` lacks, stays as it is.
std::string inline_assets(std::string_view html,
                          const std::vector<page_asset>& assets);

} // namespace actorserve::detail
