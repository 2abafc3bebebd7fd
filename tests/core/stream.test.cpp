// The stream protocol on CAF's test coordinator: backpressure, credit,
// cancellation and the replica's slot, message by message, in both modes.
#include <catch2/catch.hpp>

#include "actorserve/admission.hpp"
#include "replica/replica.hpp"
#include "actorserve/stream.hpp"
#include "actorserve/stream_reader.hpp"
#include "coordinator_fixture.hpp"

using namespace actorserve;

namespace {

/// What the producer did.
struct gen_box {
  int calls = 0;     // generator invocations
  int cancelled = 0; // cancel hooks run
  int32_t produced = 0;
};

using box_ptr = std::shared_ptr<gen_box>;

/// An endless stream of 0, 1, 2, ... (or `limit` chunks, then the end).
using counter_actor =
    caf::typed_actor<caf::replies_to<int32_t>::with<stream<int32_t>>>;

counter_actor::behavior_type counter(counter_actor::pointer self, box_ptr box) {
  return {[=](int32_t limit) {
    on_cancel(self, [box] { ++box->cancelled; });
    return make_stream<int32_t>(self, [box, limit](stream_out<int32_t>& out) {
      ++box->calls;
      if (limit >= 0 && box->produced == limit)
        return out.close();
      out.push(box->produced++);
    });
  }};
}

struct stream_world {
  test::fixture& f;
  detail::gate_ptr gate;
  caf::actor replica;
  std::shared_ptr<detail::reader_state<int32_t>> chunks =
      std::make_shared<detail::reader_state<int32_t>>();
  caf::actor reader;

  stream_world(test::fixture& f, box_ptr box, execution mode) : f(f) {
    auto spec = deployment("Counter", counter).mode(mode).bind(box).spec();
    gate = std::make_shared<detail::admission_gate>(5);
    replica = f.own(spawn_replica(
        f.sys, replica_args{1, "app", spec, {}, caf::actor{}, gate}));
    f.run();
  }

  /// Asks for a stream of `limit` chunks and opens it with `window`; the
  /// reader never returns credit by itself.
  void open(int32_t limit, uint32_t window) {
    auto st = chunks;
    auto w = window;
    auto reader_out = std::make_shared<caf::actor>();
    f.sys.spawn(
        [=](caf::event_based_actor* self, caf::actor dest) {
          self->request(dest, caf::infinite, call_atom::value, request_meta{},
                        caf::make_message(limit))
              .then([=](stream<int32_t>& s) {
                *reader_out = detail::spawn_stream_reader(
                    s.ref(), w,
                    std::make_unique<detail::queue_inbound<int32_t>>(st));
              });
        },
        replica);
    f.run();
    reader = *reader_out;
    REQUIRE(reader);
  }

  size_t received() {
    std::lock_guard<std::mutex> guard{chunks->mtx};
    return chunks->chunks.size();
  }
};

} // namespace

TEST_CASE("a producer runs at most one window ahead of a consumer that does "
          "not read",
          "[stream]") {
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = std::make_shared<gen_box>();
  stream_world w{f, box, mode};
  w.open(-1, 4);
  // The stream holds its slot while it runs.
  CHECK(w.gate->running() == 1);
  CHECK(w.received() == 4);
  CHECK(box->produced == 4);
  // Nothing more, however long the world runs.
  f.run_with_timers();
  CHECK(w.received() == 4);
  CHECK(box->produced == 4);
  // The consumer finishes two chunks (half its window): two more come.
  caf::anon_send(w.reader, stream_credit_atom::value, uint32_t{1});
  f.run();
  CHECK(box->produced == 4); // credit goes back in halves of the window
  caf::anon_send(w.reader, stream_credit_atom::value, uint32_t{1});
  f.run();
  CHECK(box->produced == 6);
  CHECK(w.received() == 6);
  // The consumer goes away: the producer stops, its request is cancelled,
  // and the slot comes back.
  caf::anon_send_exit(w.reader, caf::exit_reason::user_shutdown);
  f.run();
  CHECK(box->cancelled == 1);
  CHECK(box->produced == 6);
  CHECK(w.gate->running() == 0);
}

TEST_CASE("a stream delivers every chunk in order, then its end", "[stream]") {
  auto mode = GENERATE(execution::inline_, execution::isolated);
  test::fixture f;
  auto box = std::make_shared<gen_box>();
  stream_world w{f, box, mode};
  w.open(10, 3);
  std::vector<int32_t> seen;
  for (int i = 0; i < 20; ++i) {
    size_t n = 0;
    {
      std::lock_guard<std::mutex> guard{w.chunks->mtx};
      while (!w.chunks->chunks.empty()) {
        seen.push_back(w.chunks->chunks.front());
        w.chunks->chunks.pop_front();
        ++n;
      }
    }
    if (n == 0 && w.chunks->ended)
      break;
    caf::anon_send(w.reader, stream_credit_atom::value,
                   static_cast<uint32_t>(n));
    f.run();
  }
  CHECK(seen == std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(w.chunks->ended);
  CHECK_FALSE(w.chunks->err);
  CHECK(box->cancelled == 0);
  CHECK(w.gate->running() == 0);
}

TEST_CASE("a stream nobody opens gives its slot back when its last copy goes",
          "[stream]") {
  test::fixture f;
  auto box = std::make_shared<gen_box>();
  stream_world w{f, box, execution::inline_};
  // Ask for a stream and drop the answer.
  f.sys.spawn(
      [](caf::event_based_actor* self, caf::actor dest) {
        self->request(dest, caf::infinite, call_atom::value, request_meta{},
                      caf::make_message(int32_t{5}))
            .then([](stream<int32_t>&) {});
      },
      w.replica);
  f.run();
  CHECK(box->calls == 0);
  CHECK(box->cancelled == 1);
  CHECK(w.gate->running() == 0);
}
