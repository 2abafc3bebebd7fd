// Model multiplexing: eviction and model-aware routing as pure functions,
// and a replica's model cache with its routing on CAF's test coordinator
// (loads run as coordinator jobs there).
#include <catch2/catch.hpp>

#include <set>
#include <thread>

#include "actorserve/controller.hpp"
#include "actorserve/multiplexing.hpp"
#include "calls/routing.hpp"
#include "coordinator_fixture.hpp"

using namespace actorserve;

TEST_CASE("the least recently used models go beyond the limit",
          "[multiplexing]") {
  using v = std::vector<std::string>;
  CHECK(models_to_evict(v{"c", "a", "b"}, 2) == v{"b"});
  CHECK(models_to_evict(v{"c", "a"}, 2).empty());
  CHECK(models_to_evict(v{"d", "c", "a", "b"}, 1) == v{"c", "a", "b"});
  CHECK(models_to_evict(v{"d", "c", "a", "b"}, -1).empty());
  CHECK_FALSE(validate(multiplex_options{}));
  CHECK(validate(multiplex_options{0}));
  CHECK(multiplex_options{}.max_num_models_per_replica == 3);
}

TEST_CASE("model-aware routing prefers holders, then the fewest models",
          "[multiplexing]") {
  using ids = std::shared_ptr<const std::vector<std::string>>;
  std::vector<ids> models{
      std::make_shared<const std::vector<std::string>>(
          std::vector<std::string>{"a", "b"}),
      std::make_shared<const std::vector<std::string>>(
          std::vector<std::string>{"m"}),
      std::make_shared<const std::vector<std::string>>(
          std::vector<std::string>{"c", "m"}),
      nullptr, // a replica that reports nothing
  };
  auto run = [&](const std::string& model) {
    std::vector<size_t> cands{0, 1, 2, 3};
    std::vector<uint32_t> loads{0, 1, 2, 3};
    std::vector<size_t> rest;
    std::vector<uint32_t> rest_loads;
    detail::prefer_model(model, cands, loads, rest, rest_loads,
                         [&](size_t i) { return models[i]; });
    CHECK(cands.size() + rest.size() == 4);
    CHECK(loads.size() == cands.size());
    return cands;
  };
  CHECK(run("m") == std::vector<size_t>{1, 2});
  CHECK(run("a") == std::vector<size_t>{0});
  CHECK(run("z") == std::vector<size_t>{3}); // holds none: the fewest
}

// -- in replicas
// ----------------------------------------------------------------

namespace {

using multi_actor =
    caf::typed_actor<caf::replies_to<int32_t>::with<std::string>>;

struct model {
  std::string id;
};

struct model_box {
  std::vector<std::string> loads;
  std::vector<std::string> unloads;
};

/// Answers "replica/model/loaded" for the request's model.
multi_actor::behavior_type multi(multi_actor::pointer self,
                                 std::shared_ptr<model_box> box) {
  auto id = replica_context_of(self).replica_id;
  auto models = make_multiplexed<model>(
      self, multiplex_options{2},
      [box](const std::string& m) {
        box->loads.push_back(m);
        return std::make_shared<model>(model{m});
      },
      [box](const std::string& m, std::shared_ptr<model>) {
        box->unloads.push_back(m);
      });
  return {[self, models, id](int32_t) {
    return models.with<std::string>(
        multiplexed_model_id(self), [id](model& m, bool loaded_now) {
          return std::to_string(id) + "/" + m.id + "/" +
                 (loaded_now ? "loaded" : "held");
        });
  }};
}

struct multi_world : test::fixture {
  std::shared_ptr<model_box> box = std::make_shared<model_box>();
  caf::actor gw;
  std::shared_ptr<std::vector<std::string>> answers =
      std::make_shared<std::vector<std::string>>();

  void deploy(uint32_t replicas) { deploy_as("Multi", multi, box, replicas); }

  template <class F, class Arg>
  void deploy_as(const std::string& name, F f, Arg arg, uint32_t replicas) {
    auto b = deployment(name, f);
    b.num_replicas(replicas);
    auto ctrl = own(spawn_controller(sys));
    auto a = test::request<application_status>(
        *this, ctrl, deploy_atom::value,
        app_spec{"app", "", b.bind(std::move(arg)).spec()});
    REQUIRE(*a.done);
    REQUIRE(a.out->engaged());
    gw = test::find_dep(*this, ctrl, "app", name).gateway;
  }

  void send(const std::string& model) {
    auto out = answers;
    auto dest = gw;
    request_meta meta;
    meta.multiplexed_model_id = model;
    // The meta is a spawn argument: CAF 0.17 spawns functors without
    // arguments through a null pointer (undefined behavior under UBSan).
    sys.spawn(
        [=](caf::event_based_actor* self, request_meta m) {
          self->request(dest, caf::infinite, call_atom::value, m,
                        caf::make_message(int32_t{0}))
              .then([out](std::string& s) { out->push_back(s); },
                    [out](caf::error& err) {
                      out->push_back("error: " + message_of(err));
                    });
        },
        meta);
  }

  /// The replica that answered answer `i`.
  std::string replica_of(size_t i) const {
    auto& s = answers->at(i);
    return s.substr(0, s.find('/'));
  }
};

} // namespace

TEST_CASE("a replica loads a model once, evicts the least recently used and "
          "unloads it",
          "[multiplexing]") {
  multi_world w;
  w.deploy(1);
  // Three first requests for "a" at once: one load.
  w.send("a");
  w.send("a");
  w.send("a");
  w.run();
  REQUIRE(w.answers->size() == 3);
  CHECK(w.box->loads == std::vector<std::string>{"a"});
  auto loaded = std::count_if(w.answers->begin(), w.answers->end(),
                              [](const std::string& s) {
                                return s.find("/loaded") != std::string::npos;
                              });
  CHECK(loaded == 1);
  w.send("b");
  w.run();
  w.send("a"); // a is now the most recent
  w.run();
  w.send("c"); // over the limit of 2: b goes
  w.run();
  CHECK(w.box->loads == std::vector<std::string>{"a", "b", "c"});
  CHECK(w.box->unloads == std::vector<std::string>{"b"});
  w.send("b"); // back: a goes
  w.run();
  CHECK(w.box->unloads == std::vector<std::string>{"b", "a"});
  CHECK(w.answers->back().find("/b/loaded") != std::string::npos);
  // No model named: a clear error.
  w.send("");
  w.run();
  CHECK_THAT(w.answers->back(), Catch::Contains("serve_multiplexed_model_id"));
}

TEST_CASE("requests for a model go to the replica that holds it",
          "[multiplexing]") {
  multi_world w;
  w.deploy(2);
  w.send("m");
  w.run();
  REQUIRE(w.answers->size() == 1);
  auto holder = w.replica_of(0);
  for (int i = 0; i < 10; ++i) {
    w.send("m");
    w.run();
  }
  for (size_t i = 1; i < w.answers->size(); ++i) {
    CHECK(w.replica_of(i) == holder);
    CHECK(w.answers->at(i).find("/held") != std::string::npos);
  }
  // A new model goes to the replica with the fewest models.
  w.send("n");
  w.run();
  CHECK(w.replica_of(w.answers->size() - 1) != holder);
  CHECK(w.box->loads.size() == 2);
}

namespace {

/// The loads an async loader started, waiting for the test to deliver.
struct pending_loads {
  std::vector<model_promise<model>> promises;
};

/// Like `multi`, with an async loader that parks its promise.
multi_actor::behavior_type async_multi(multi_actor::pointer self,
                                       std::shared_ptr<pending_loads> box) {
  auto id = replica_context_of(self).replica_id;
  auto models = make_multiplexed<model>(
      self, multiplex_options{2},
      [box](const std::string&, model_promise<model> p) {
        box->promises.push_back(std::move(p));
      },
      [](const std::string&, std::shared_ptr<model>) {});
  return {[self, models, id](int32_t) {
    return models.with<std::string>(
        multiplexed_model_id(self), [id](model& m, bool loaded_now) {
          return std::to_string(id) + "/" + m.id + "/" +
                 (loaded_now ? "loaded" : "held");
        });
  }};
}

struct async_world : multi_world {
  std::shared_ptr<pending_loads> loads = std::make_shared<pending_loads>();

  void deploy_async(uint32_t replicas) {
    deploy_as("AsyncMulti", async_multi, loads, replicas);
  }
};

} // namespace

TEST_CASE("an async loader loads once, and its loading model draws the "
          "model's requests",
          "[multiplexing]") {
  async_world w;
  w.deploy_async(2);
  w.send("m");
  w.run();
  REQUIRE(w.loads->promises.size() == 1);
  CHECK(w.answers->empty());
  // The replica loading m advertises it: these wait for that one load
  // instead of loading m on the idle replica.
  w.send("m");
  w.send("m");
  w.run();
  CHECK(w.loads->promises.size() == 1);
  CHECK(w.answers->empty());
  // Delivered from a thread of the user's.
  auto p = w.loads->promises.front();
  std::thread{[p] { p.deliver(std::make_shared<model>(model{"m"})); }}.join();
  w.run();
  REQUIRE(w.answers->size() == 3);
  CHECK(w.replica_of(0) == w.replica_of(1));
  CHECK(w.replica_of(1) == w.replica_of(2));
  auto loaded = std::count_if(w.answers->begin(), w.answers->end(),
                              [](const std::string& s) {
                                return s.find("/m/loaded") != std::string::npos;
                              });
  CHECK(loaded == 1);
  // A second delivery is ignored.
  p.deliver(make_error(errc::user_error, "late"));
  w.run();
  CHECK(w.answers->size() == 3);
  // A failed load fails its waiters; a dropped promise fails with internal.
  w.send("x");
  w.run();
  REQUIRE(w.loads->promises.size() == 2);
  w.loads->promises.back().deliver(make_error(errc::user_error, "no x"));
  w.run();
  REQUIRE(w.answers->size() == 4);
  CHECK_THAT(w.answers->back(), Catch::Contains("no x"));
  w.send("y");
  w.run();
  REQUIRE(w.loads->promises.size() == 3);
  w.loads->promises.pop_back();
  w.run();
  REQUIRE(w.answers->size() == 5);
  CHECK_THAT(w.answers->back(), Catch::Contains("dropped its promise"));
}
