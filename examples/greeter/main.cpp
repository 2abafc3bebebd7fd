// A complete actorserve application: one deployment behind HTTP, with a
// typed JSON body and a flag of its own.
//
//   ./greeter --port 8000 --greeting Hello
//   curl -s -X POST 127.0.0.1:8000/greet -d '{"name": "Ada", "times": 2}'
//   {"greeting":"Hello, Ada! Hello, Ada!"}
#include <iostream>
#include <string>
#include <vector>

#include <actorserve/actorserve.hpp>

namespace greeter {

struct request {
  std::string name;
  int times = 1;
};
ACTORSERVE_JSON(request, name, times)

struct answer {
  std::string greeting;
};
ACTORSERVE_JSON(answer, greeting)

actorserve::http_ingress::behavior_type
greeter(actorserve::http_ingress::pointer, std::string word) {
  return {[word](actorserve::http_request& req) -> actorserve::reply {
    // A body without "name", or with "times" not a number, gets 400 naming
    // the field.
    auto in = actorserve::json_body<request>(req);
    answer out;
    for (int i = 0; i < in.times; ++i)
      out.greeting += (i > 0 ? " " : "") + (word + ", " + in.name + "!");
    return actorserve::json_response(out);
  }};
}

} // namespace greeter

int main(int argc, char** argv) {
  actorserve::serve_options defaults;
  defaults.usage = "greeter flags:\n  --greeting WORD          the word to "
                   "greet with (Hello)";
  // The server takes its flags; the rest are ours.
  std::vector<std::string> own;
  actorserve::serve serve{argc, argv, defaults, &own};
  std::string word = "Hello";
  for (size_t i = 0; i < own.size(); ++i) {
    if (own[i] == "--greeting" && i + 1 < own.size()) {
      word = own[++i];
    } else {
      std::cerr << argv[0] << ": unknown flag " << own[i] << " (see --help)"
                << std::endl;
      return 2;
    }
  }
  auto app = serve.deployment("Greeter", greeter::greeter).bind(word);
  if (auto h = serve.run(app, {"greeter", "/greet"}); !h)
    return serve.fail(h.error());
  std::cout << "greeter: serving on http://" << serve.options().http.host << ":"
            << serve.http_port() << "/greet" << std::endl;
  return serve.wait();
}
