// Stream throughput and time to first chunk, over handles and over HTTP.
//
//   stream_bench handles [--chunks N] [--streams K] [--window W]
//       In-process: a Consumer deployment consume()s K concurrent streams of
//       N chunks each from a Producer deployment (async generator, no
//       pauses); chunks/s over the whole run. Then time to first chunk: the
//       time from the Consumer's call to its first chunk, median and p99 of
//       1000 one-chunk streams. Then the same transfer between two bare CAF
//       actors with CAF 0.17's stream stages (attach_stream_source/sink), the
//       design alternative.
//   stream_bench sse URL [--chunks N] [--streams K] [--seconds S]
//       An HTTP client: K connections each POST {"prompt", "n": N,
//       "delay_ms": 0} to URL (the demo's /stream, or Ray Serve's peer in
//       bench/ray/stream_app.py) again and again for S seconds and count SSE
//       `data:` events; chunks/s, and time to first event (median, p99).
// Prints one JSON object.
#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <caf/all.hpp>

#include "actorserve/actorserve.hpp"

using namespace actorserve;
using clock_type = std::chrono::steady_clock;

namespace {

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto i = static_cast<size_t>(p * static_cast<double>(xs.size() - 1));
  return xs[i];
}

// -- handles ------------------------------------------------------------------

using producer_actor =
    caf::typed_actor<caf::replies_to<int64_t>::with<stream<int64_t>>>;

producer_actor::behavior_type producer(producer_actor::pointer self) {
  return {[=](int64_t n) {
    return make_stream<int64_t>(
        self, [n, i = int64_t{0}](stream_out<int64_t>& out) mutable {
          if (i == n)
            return out.close();
          out.push(i++);
        });
  }};
}

/// (n, k, window): reads k streams of n chunks at once; answers the
/// chunks seen. (first_atom, count): times `count` one-chunk streams,
/// answers the microseconds from call to first chunk.
using first_atom = caf::atom_constant<caf::atom("first")>;
using consumer_actor = caf::typed_actor<
    caf::replies_to<int64_t, int32_t, uint32_t>::with<int64_t>,
    caf::replies_to<first_atom, int32_t>::with<std::vector<double>>>;

consumer_actor::behavior_type consumer(consumer_actor::pointer self,
                                       handle<producer_actor> prod) {
  return {
      [=](int64_t n, int32_t k, uint32_t window) -> caf::result<int64_t> {
        auto rp = self->make_response_promise<int64_t>();
        auto seen = std::make_shared<int64_t>(0);
        auto left = std::make_shared<int32_t>(k);
        for (int32_t j = 0; j < k; ++j)
          prod.call(self, n).then([=](stream<int64_t>& s) mutable {
            consume(
                self, s, [seen](int64_t&) { ++*seen; },
                [=](const caf::error&) mutable {
                  if (--*left == 0)
                    rp.deliver(*seen);
                },
                window);
          });
        return rp;
      },
      [=](first_atom, int32_t count) -> caf::result<std::vector<double>> {
        auto rp = self->make_response_promise<std::vector<double>>();
        auto samples = std::make_shared<std::vector<double>>();
        // Sequential: one stream at a time.
        auto step = std::make_shared<std::function<void()>>();
        *step = [=]() mutable {
          if (static_cast<int32_t>(samples->size()) == count) {
            rp.deliver(*samples);
            *step = nullptr; // break the cycle
            return;
          }
          auto t0 = clock_type::now();
          auto got = std::make_shared<bool>(false);
          prod.call(self, int64_t{1}).then([=](stream<int64_t>& s) {
            consume(
                self, s,
                [=](int64_t&) {
                  if (!*got) {
                    *got = true;
                    samples->push_back(
                        std::chrono::duration<double, std::micro>(
                            clock_type::now() - t0)
                            .count());
                  }
                },
                [=](const caf::error&) { (*step)(); });
          });
        };
        (*step)();
        return rp;
      },
  };
}

// CAF 0.17's own streams between two bare actors: the alternative design.
double caf_streams(caf::actor_system& sys, int64_t n) {
  auto sink_done = std::make_shared<std::atomic<int64_t>>(0);
  auto src = sys.spawn([n](caf::event_based_actor* self) -> caf::behavior {
    return {[=](caf::actor sink) {
      caf::attach_stream_source(
          self, sink, [](int64_t& i) { i = 0; },
          [n](int64_t& i, caf::downstream<int64_t>& out, size_t hint) {
            for (size_t j = 0; j < hint && i < n; ++j)
              out.push(i++);
          },
          [n](const int64_t& i) { return i == n; });
    }};
  });
  caf::scoped_actor waiter{sys};
  auto sink = sys.spawn(
      [sink_done, n](caf::event_based_actor* self,
                     caf::actor notify) -> caf::behavior {
        return {[=](caf::stream<int64_t> in) {
          return caf::attach_stream_sink(
              self, in, [](int64_t& count) { count = 0; },
              [](int64_t& count, int64_t) { ++count; },
              [=](int64_t& count, const caf::error&) {
                sink_done->store(count);
                caf::anon_send(notify, caf::atom("done"));
              });
        }};
      },
      caf::actor{waiter});
  auto t0 = clock_type::now();
  caf::anon_send(src, sink);
  waiter->receive([](caf::atom_value) {});
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  caf::anon_send_exit(src, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  return static_cast<double>(sink_done->load()) / secs;
}

/// CAF 0.17's streams: microseconds from asking a source for a one-chunk
/// stream to its sink's first chunk, `count` times.
std::vector<double> caf_first_chunk(caf::actor_system& sys, int count) {
  std::vector<double> samples;
  caf::scoped_actor waiter{sys};
  for (int i = 0; i < count; ++i) {
    auto src = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
      return {[=](caf::actor sink) {
        caf::attach_stream_source(
            self, sink, [](bool& done) { done = false; },
            [](bool& done, caf::downstream<int64_t>& out, size_t) {
              if (!done) {
                out.push(1);
                done = true;
              }
            },
            [](const bool& done) { return done; });
      }};
    });
    auto sink = sys.spawn(
        [](caf::event_based_actor* self, caf::actor notify) -> caf::behavior {
          return {[=](caf::stream<int64_t> in) {
            return caf::attach_stream_sink(
                self, in, [](bool& seen) { seen = false; },
                [=](bool& seen, int64_t) {
                  if (!seen) {
                    seen = true;
                    caf::anon_send(notify, caf::atom("first"));
                  }
                },
                [](bool&, const caf::error&) {});
          }};
        },
        caf::actor{waiter});
    auto t0 = clock_type::now();
    caf::anon_send(src, sink);
    waiter->receive([](caf::atom_value) {});
    samples.push_back(
        std::chrono::duration<double, std::micro>(clock_type::now() - t0)
            .count());
    caf::anon_send_exit(src, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  }
  return samples;
}

int run_handles(int64_t n, int32_t k, uint32_t window) {
  serve_options opts;
  opts.http.enabled = false;
  serve s{opts};
  auto prod =
      s.deployment("Producer", producer).max_ongoing_requests(1000).bind();
  auto h = s.run(s.deployment("Consumer", consumer).bind(prod), {"bench", ""});
  if (!h) {
    std::cerr << message_of(h.error()) << "\n";
    return 1;
  }
  // Warm up, then measure one stream and k streams.
  h->call(int64_t{10'000}, int32_t{1}, window).get(std::chrono::seconds(60));
  auto measure = [&](int32_t streams) {
    auto t0 = clock_type::now();
    auto seen = h->call(n, streams, window).get(std::chrono::seconds(600));
    auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    return seen ? static_cast<double>(*seen) / secs : 0.0;
  };
  auto one = measure(1);
  auto many = measure(k);
  auto firsts =
      h->call(first_atom::value, int32_t{1000}).get(std::chrono::seconds(60));
  std::vector<double> f = firsts ? *firsts : std::vector<double>{};
  auto caf_rate = caf_streams(s.system(), n);
  auto caf_first = caf_first_chunk(s.system(), 200);
  std::printf("{\"chunks_per_s_one\": %.0f, \"chunks_per_s_many\": %.0f, "
              "\"streams\": %d, \"window\": %u, \"first_chunk_p50_us\": %.1f, "
              "\"first_chunk_p99_us\": %.1f, \"caf_streams_chunks_per_s\": "
              "%.0f, \"caf_first_chunk_p50_us\": %.1f, "
              "\"caf_first_chunk_p99_us\": %.1f}\n",
              one, many, k, window, percentile(f, 0.5), percentile(f, 0.99),
              caf_rate, percentile(caf_first, 0.5),
              percentile(caf_first, 0.99));
  return 0;
}

// -- SSE over HTTP ------------------------------------------------------------

struct sse_result {
  int64_t chunks = 0;
  std::vector<double> first_us;
  int errors = 0;
};

/// One POST, read to the end of the stream; counts `data:` events.
bool one_stream(uint16_t port, const std::string& path, const std::string& body,
                sse_result& out) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return false;
  }
  auto req = "POST " + path +
             " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
             "application/json\r\nConnection: close\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body;
  auto t0 = clock_type::now();
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  char buf[65536];
  std::string carry;
  bool first = true;
  int64_t events = 0;
  for (;;) {
    auto r = ::recv(fd, buf, sizeof(buf), 0);
    if (r <= 0)
      break;
    std::string text = carry + std::string(buf, static_cast<size_t>(r));
    size_t pos = 0;
    while ((pos = text.find("data: {\"index\"", pos)) != std::string::npos) {
      if (first) {
        first = false;
        out.first_us.push_back(
            std::chrono::duration<double, std::micro>(clock_type::now() - t0)
                .count());
      }
      ++events;
      pos += 6;
    }
    carry = text.size() > 16 ? text.substr(text.size() - 16) : text;
    // Drop a match that the carry would count twice.
    if (carry.find("data: {\"index\"") != std::string::npos)
      carry.clear();
  }
  ::close(fd);
  out.chunks += events;
  return true;
}

int run_sse(const std::string& url, int64_t n, int32_t k, double seconds) {
  // http://127.0.0.1:PORT/path
  auto rest = url.substr(url.find("//") + 2);
  auto colon = rest.find(':');
  auto slash = rest.find('/');
  auto port = static_cast<uint16_t>(
      std::stoi(rest.substr(colon + 1, slash - colon - 1)));
  auto path = rest.substr(slash);
  auto body =
      "{\"prompt\": \"the quick brown fox\", \"n\": " + std::to_string(n) +
      ", \"delay_ms\": 0}";
  std::vector<sse_result> results(static_cast<size_t>(k));
  auto t0 = clock_type::now();
  auto end = t0 + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int32_t i = 0; i < k; ++i)
    threads.emplace_back([&, i] {
      auto& r = results[static_cast<size_t>(i)];
      while (clock_type::now() < end)
        if (!one_stream(port, path, body, r))
          ++r.errors;
    });
  for (auto& t : threads)
    t.join();
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  sse_result all;
  for (auto& r : results) {
    all.chunks += r.chunks;
    all.errors += r.errors;
    all.first_us.insert(all.first_us.end(), r.first_us.begin(),
                        r.first_us.end());
  }
  std::printf("{\"chunks_per_s\": %.0f, \"streams\": %zu, \"connections\": %d, "
              "\"chunks_per_stream\": %lld, \"first_event_p50_us\": %.1f, "
              "\"first_event_p99_us\": %.1f, \"errors\": %d}\n",
              static_cast<double>(all.chunks) / secs, all.first_us.size(), k,
              static_cast<long long>(n), percentile(all.first_us, 0.5),
              percentile(all.first_us, 0.99), all.errors);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: stream_bench handles|sse [URL] [--chunks N] "
                 "[--streams K] [--window W] [--seconds S]\n";
    return 2;
  }
  std::string mode = argv[1];
  std::string url;
  int64_t n = 1'000'000;
  int32_t k = 8;
  uint32_t window = 64;
  double seconds = 5;
  int i = 2;
  if (mode == "sse" && argc > 2)
    url = argv[i++];
  for (; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--chunks")
      n = std::stoll(argv[i + 1]);
    else if (flag == "--streams")
      k = std::stoi(argv[i + 1]);
    else if (flag == "--window")
      window = static_cast<uint32_t>(std::stoul(argv[i + 1]));
    else if (flag == "--seconds")
      seconds = std::stod(argv[i + 1]);
  }
  if (mode == "handles")
    return run_handles(n, k, window);
  if (mode == "sse" && !url.empty())
    return run_sse(url, n, k, seconds);
  std::cerr << "unknown mode\n";
  return 2;
}
