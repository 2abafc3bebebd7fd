#include "ingress/dashboard_page.hpp"

#include <optional>

// The page's files, embedded from libactorserve/assets at build time
// (cmake/embed_assets.cmake generates their definitions).
namespace actorserve::detail::assets {
std::string_view dashboard_html() noexcept;
std::string_view dashboard_css() noexcept;
std::string_view dashboard_data_js() noexcept;
std::string_view dashboard_view_js() noexcept;
} // namespace actorserve::detail::assets

namespace actorserve::detail {

namespace {

/// The content of the asset that `line` refers to as `prefix` P `suffix`,
/// or nothing when the line is not that or P is not an asset.
std::optional<std::string_view> referred(std::string_view line,
                                         std::string_view prefix,
                                         std::string_view suffix,
                                         const std::vector<page_asset>& assets) {
  if (line.size() < prefix.size() + suffix.size() ||
      line.substr(0, prefix.size()) != prefix ||
      line.substr(line.size() - suffix.size()) != suffix)
    return std::nullopt;
  auto path = line.substr(prefix.size(),
                          line.size() - prefix.size() - suffix.size());
  for (const auto& a : assets)
    if (a.path == path)
      return a.content;
  return std::nullopt;
}

} // namespace

std::string inline_assets(std::string_view html,
                          const std::vector<page_asset>& assets) {
  std::string out;
  out.reserve(html.size() + [&] {
    size_t n = 0;
    for (const auto& a : assets)
      n += a.content.size();
    return n;
  }());
  bool in_script = false;
  while (!html.empty()) {
    auto end = html.find('\n');
    auto line = html.substr(0, end == html.npos ? html.size() : end + 1);
    html.remove_prefix(line.size());
    auto text = line.substr(0, line.size() - (line.back() == '\n' ? 1 : 0));
    if (auto js = referred(text, "<script src=\"", "\"></script>", assets)) {
      out += in_script ? "\n" : "<script>\n";
      out += *js;
      in_script = true;
      continue;
    }
    if (in_script)
      out += "</script>\n";
    in_script = false;
    if (auto css = referred(text, "<link rel=\"stylesheet\" href=\"", "\">",
                            assets)) {
      out += "<style>\n";
      out += *css;
      out += "</style>\n";
      continue;
    }
    out += line;
  }
  if (in_script)
    out += "</script>\n";
  return out;
}

std::string_view dashboard_html() noexcept {
  static const std::string page = inline_assets(
      assets::dashboard_html(),
      {{"dashboard.css", assets::dashboard_css()},
       {"dashboard_data.js", assets::dashboard_data_js()},
       {"dashboard_view.js", assets::dashboard_view_js()}});
  return page;
}

} // namespace actorserve::detail
