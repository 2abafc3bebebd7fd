// httpfuzz: a black-box HTTP fuzzer for a running server on 127.0.0.1.
//
// It sends `--count` mutated requests (mutate.hpp: start lines, headers
// with bytes that are not UTF-8, odd and huge Content-Lengths, chunked
// bodies good and bad, pipelining, bodies cut short or cut into pieces),
// one connection each, from a seeded generator: the same seed sends the
// same bytes. After every batch of `--batch` it checks that the server
//   - is still running (`--pid`), and after each request too, so that the
//     request that stopped it is named;
//   - answers GET /-/healthz with 200;
//   - has no request left in flight ("in_flight" back to 0 within
//     `--settle-ms`);
//   - keeps its resident memory (VmRSS) under `--max-rss-mb`.
// Any answer, or none, to a mutated request is fine; what counts is that
// the server lives on and stays clean.
//
// Exit status: 0 all batches passed, 1 a check failed (the batch's inputs
// are written to `--save DIR` when given), 2 bad usage.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>

#include "mutate.hpp"
#include "net.hpp"

namespace {

using namespace httpfuzz;

struct options {
  std::string host = "127.0.0.1";
  uint16_t port = 8000;
  long pid = 0;
  uint64_t seed = 1;
  size_t count = 1000;
  size_t batch = 50;
  long max_rss_mb = 1024;
  int quiet_ms = 200;
  int settle_ms = 5000;
  std::string save;
  std::string replay;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "httpfuzz: %s\n"
               "usage: httpfuzz --port N --pid P [--host 127.0.0.1] [--seed S]\n"
               "  [--count N] [--batch N] [--max-rss-mb M] [--quiet-ms T]\n"
               "  [--settle-ms T] [--save DIR] [--replay FILE]\n",
               why);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc)
      usage(("flag " + flag + " needs a value").c_str());
    std::string v = argv[++i];
    auto num = [&] { return std::strtoull(v.c_str(), nullptr, 10); };
    if (flag == "--host")
      o.host = v;
    else if (flag == "--port")
      o.port = static_cast<uint16_t>(num());
    else if (flag == "--pid")
      o.pid = static_cast<long>(num());
    else if (flag == "--seed")
      o.seed = num();
    else if (flag == "--count")
      o.count = num();
    else if (flag == "--batch")
      o.batch = std::max<size_t>(1, num());
    else if (flag == "--max-rss-mb")
      o.max_rss_mb = static_cast<long>(num());
    else if (flag == "--quiet-ms")
      o.quiet_ms = static_cast<int>(num());
    else if (flag == "--settle-ms")
      o.settle_ms = static_cast<int>(num());
    else if (flag == "--save")
      o.save = v;
    else if (flag == "--replay")
      o.replay = v;
    else
      usage(("unknown flag " + flag).c_str());
  }
  if (o.pid <= 0 || o.port == 0)
    usage("--port and --pid are required");
  return o;
}

void save_batch(const options& o, size_t batch,
                const std::vector<fuzz_case>& cases) {
  if (o.save.empty())
    return;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto path = o.save + "/batch" + std::to_string(batch) + "-case" +
                std::to_string(i) + ".http";
    std::ofstream out{path, std::ios::binary};
    for (auto& p : cases[i].pieces)
      out << p;
  }
  std::fprintf(stderr, "httpfuzz: the batch's inputs are in %s\n",
               o.save.c_str());
}

// Whether the server settles: healthz 200 and nothing in flight.
bool settles(const options& o, std::string& why) {
  auto until = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(o.settle_ms);
  health h;
  do {
    h = get_health(o.host, o.port, 2000);
    if (h.status == 200 && h.in_flight == 0)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < until);
  why = h.status != 200 ? "GET /-/healthz answered " + std::to_string(h.status)
                        : "in_flight stayed at " + std::to_string(h.in_flight);
  why += " (" + h.body.substr(0, 200) + ")";
  return false;
}

struct tally {
  std::map<std::string, size_t> classes;
  long max_rss_kib = 0;
  size_t sent = 0;
};

void count_reply(tally& t, const exchange_result& r) {
  auto codes = statuses_of(r.reply);
  if (r.refused)
    ++t.classes["refused"];
  else if (codes.empty())
    ++t.classes[r.closed ? "closed" : "silent"];
  for (auto c : codes)
    ++t.classes[std::to_string(c / 100) + "xx"];
}

int replay(const options& o) {
  std::ifstream in{o.replay, std::ios::binary};
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  auto r = exchange(o.host, o.port, {bytes}, o.quiet_ms, false);
  std::fwrite(r.reply.data(), 1, r.reply.size(), stdout);
  std::string why;
  bool ok = alive(o.pid) && settles(o, why);
  std::fprintf(stderr, "httpfuzz: replay %s%s\n", ok ? "ok" : "FAILED: ",
               why.c_str());
  return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  if (!o.replay.empty())
    return replay(o);
  mutator gen{o.seed};
  tally t;
  std::string why;
  if (!settles(o, why)) {
    std::fprintf(stderr, "httpfuzz: the server is not ready: %s\n", why.c_str());
    return 1;
  }
  for (size_t b = 0; t.sent < o.count; ++b) {
    std::vector<fuzz_case> cases;
    for (size_t i = 0; i < o.batch && t.sent < o.count; ++i, ++t.sent) {
      cases.push_back(gen.next());
      auto r = exchange(o.host, o.port, cases.back().pieces, o.quiet_ms,
                        cases.back().half_close);
      count_reply(t, r);
      if (!alive(o.pid)) {
        std::fprintf(stderr, "httpfuzz: the server died after request %zu (%s)\n",
                     t.sent, cases.back().what.c_str());
        save_batch(o, b, cases);
        return 1;
      }
    }
    auto rss = rss_kib(o.pid);
    t.max_rss_kib = std::max(t.max_rss_kib, rss);
    if (!settles(o, why) || rss > o.max_rss_mb * 1024) {
      if (why.empty())
        why = "VmRSS " + std::to_string(rss / 1024) + " MiB over the bound";
      std::fprintf(stderr, "httpfuzz: batch %zu failed: %s\n", b, why.c_str());
      save_batch(o, b, cases);
      return 1;
    }
  }
  std::printf("httpfuzz: %zu requests (seed %llu), server alive and settled "
              "after every batch, max VmRSS %ld MiB; answers:",
              t.sent, static_cast<unsigned long long>(o.seed),
              t.max_rss_kib / 1024);
  for (auto& [k, n] : t.classes)
    std::printf(" %s=%zu", k.c_str(), n);
  std::printf("\n");
  return 0;
}
