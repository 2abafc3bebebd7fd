// The dashboard page as the admin server answers it: its files from
// libactorserve/assets, embedded at build time and put inline.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "ingress/dashboard_page.hpp"

using namespace actorserve::detail;

TEST_CASE("a page's stylesheet and scripts go inline", "[dashboard]") {
  std::vector<page_asset> files{{"a.css", "p { }\n"},
                                {"one.js", "let x = 1;\n"},
                                {"two.js", "x += 1;\n"}};
  auto html = "<head>\n"
              "<link rel=\"stylesheet\" href=\"a.css\">\n"
              "</head>\n"
              "<script src=\"one.js\"></script>\n"
              "<script src=\"two.js\"></script>\n"
              "</body>\n";
  CHECK(inline_assets(html, files) == "<head>\n"
                                      "<style>\np { }\n</style>\n"
                                      "</head>\n"
                                      "<script>\nlet x = 1;\n\nx += 1;\n</script>\n"
                                      "</body>\n");
}

TEST_CASE("scripts apart stay apart, and the last line needs no newline",
          "[dashboard]") {
  std::vector<page_asset> files{{"one.js", "a();\n"}, {"two.js", "b();\n"}};
  CHECK(inline_assets("<script src=\"one.js\"></script>\n<hr>\n"
                      "<script src=\"two.js\"></script>",
                      files) ==
        "<script>\na();\n</script>\n<hr>\n<script>\nb();\n</script>\n");
}

TEST_CASE("a reference to no known file, or in another form, stays as it is",
          "[dashboard]") {
  std::vector<page_asset> files{{"a.css", "p { }\n"}};
  std::string html = "<link rel=\"stylesheet\" href=\"b.css\">\n"
                     "  <link rel=\"stylesheet\" href=\"a.css\">\n"
                     "<script src=\"a.css\" defer></script>\n"
                     "<script src=\"\"></script>\n";
  CHECK(inline_assets(html, files) == html);
  CHECK(inline_assets("", files).empty());
}

TEST_CASE("the dashboard page holds its stylesheet and both scripts inline",
          "[dashboard]") {
  std::string page{dashboard_html()};
  CHECK(page.rfind("<!DOCTYPE html>\n", 0) == 0);
  CHECK(page.find("<script src=") == std::string::npos);
  CHECK(page.find("<link rel=\"stylesheet\"") == std::string::npos);
  // One style element and one script: the data part, then the view part.
  CHECK(page.find("<style>\n:root {") != std::string::npos);
  auto script = page.find("<script>\n'use strict';\n");
  REQUIRE(script != std::string::npos);
  CHECK(page.find("<script>", script + 1) == std::string::npos);
  CHECK(page.find("\nstartSSE();\n</script>\n</body>\n</html>\n") !=
        std::string::npos);
  CHECK(dashboard_html().data() == dashboard_html().data());
}
