// The controller never dies while applications of several deployments are
// redeployed: updates that add and drop deployments, updates that fail
// (a constructor that keeps failing) and are then fixed by a patch or
// undone by another redeploy that adds back what the failed one dropped.
// On CAF's test coordinator with virtual time. Afterwards every request has
// its answer, the controller serves, and no replica runs that no app lists.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "controller_fuzz.hpp"

using namespace actorserve;
using namespace test::fuzz;

namespace {

const char* const child_names[] = {"C1", "C2", "C3"};

/// One box per deployment name, so a test can fix a constructor later.
struct boxes {
  std::map<std::string, std::shared_ptr<ctor_box>> by_name;

  std::shared_ptr<ctor_box> operator[](const std::string& name) {
    auto& b = by_name[name];
    if (!b)
      b = std::make_shared<ctor_box>();
    return b;
  }

  int live() const {
    int n = 0;
    for (auto& [name, b] : by_name)
      n += b->live;
    return n;
  }
};

/// An ingress "M" whose children are the named deployments (one replica
/// each, children before their parent as `run` builds them).
app_spec app_of(boxes& b, const std::string& app,
                const std::vector<std::string>& children,
                execution mode = execution::inline_) {
  auto ingress = mortal_spec(b[app + "/M"], 1, mode, "M");
  for (auto& c : children)
    ingress->children.push_back(mortal_spec(b[app + "/" + c], 1, mode, c));
  return app_spec{app, "", ingress};
}

std::vector<std::string> names_of(const application_status& app) {
  std::vector<std::string> out;
  for (auto& d : app.deployments)
    out.push_back(d.name);
  std::sort(out.begin(), out.end());
  return out;
}

const application_status* find_app(const serve_status& st,
                                   const std::string& name) {
  for (auto& a : st.applications)
    if (a.name == name)
      return &a;
  return nullptr;
}

/// The replicas the status lists, over every app.
int listed_replicas(const serve_status& st) {
  int n = 0;
  for (auto& a : st.applications)
    for (auto& d : a.deployments)
      n += static_cast<int>(d.replicas.size());
  return n;
}

/// Deploys "app" (M over C1 and C2), then an update that drops C2 and adds
/// C3, whose constructor keeps failing: the app turns UNHEALTHY, and C2
/// keeps serving the old version meanwhile.
void start_failing_update(test::fixture& f, boxes& b,
                          const controller_actor& ctrl,
                          const std::shared_ptr<tally>& t) {
  deploy(f, ctrl, t, app_of(b, "app", {"C1", "C2"}));
  settle(f);
  auto st = status(f, ctrl);
  REQUIRE(find_app(st, "app") != nullptr);
  REQUIRE(find_app(st, "app")->state == application_state::running);
  b["app/C3"]->fail_first = 1000;
  deploy(f, ctrl, t, app_of(b, "app", {"C1", "C3"}));
  settle(f);
  st = status(f, ctrl);
  REQUIRE(find_app(st, "app") != nullptr);
  CHECK(find_app(st, "app")->state == application_state::unhealthy);
  CHECK(b["app/C2"]->live == 1);
}

/// Settles, then checks that "app" runs with exactly `names`, that every
/// user actor alive is a replica status lists, and every request has its
/// answer.
void check_running(test::fixture& f, boxes& b, const controller_actor& ctrl,
                   const std::shared_ptr<tally>& t,
                   std::vector<std::string> names) {
  settle(f);
  auto st = status(f, ctrl);
  REQUIRE(find_app(st, "app") != nullptr);
  CHECK(find_app(st, "app")->state == application_state::running);
  CHECK(names_of(*find_app(st, "app")) == names);
  CHECK(b.live() == listed_replicas(st));
  CHECK(t->answered == t->sent);
}

} // namespace

TEST_CASE("a redeploy that adds back what a failed one dropped leaves a "
          "consistent app",
          "[controller]") {
  test::fixture f;
  boxes b;
  auto ctrl = f.own(spawn_controller(f.sys));
  auto t = std::make_shared<tally>();
  start_failing_update(f, b, ctrl, t);
  // Undone: C2 comes back, C3 goes.
  deploy(f, ctrl, t, app_of(b, "app", {"C1", "C2"}));
  check_running(f, b, ctrl, t, {"C1", "C2", "M"});
  CHECK(b["app/C2"]->live == 1);
}

TEST_CASE("an update fixed by a patch retires what it dropped",
          "[controller]") {
  test::fixture f;
  boxes b;
  auto ctrl = f.own(spawn_controller(f.sys));
  auto t = std::make_shared<tally>();
  start_failing_update(f, b, ctrl, t);
  // The constructor is fixed; a patch tries it again.
  b["app/C3"]->fail_first = 0;
  deployment_patch p;
  p.num_replicas = 1;
  fire<deployment_status>(f, ctrl, t, update_atom::value, std::string{"app"},
                          std::string{"C3"}, p, true);
  check_running(f, b, ctrl, t, {"C1", "C3", "M"});
  // The dropped C2 stopped once the update was done.
  CHECK(b["app/C2"]->live == 0);
}

TEST_CASE("no sequence of redeploys of multi-deployment apps stops the "
          "controller or leaves a replica no app lists",
          "[controller][fuzz]") {
  auto seed = GENERATE(range(1, 31));
  CAPTURE(seed);
  std::mt19937 rng{static_cast<uint32_t>(seed)};
  auto pick = [&](int n) {
    return std::uniform_int_distribution<int>{0, n - 1}(rng);
  };
  test::fixture f;
  boxes b;
  auto ctrl = f.own(spawn_controller(f.sys));
  auto t = std::make_shared<tally>();
  const char* apps[] = {"a", "b"};
  for (int step = 0; step < 100; ++step) {
    std::string app = apps[pick(2)];
    std::string dep = pick(4) == 0 ? "M" : child_names[pick(3)];
    switch (pick(8)) {
    case 0:
    case 1: {
      std::vector<std::string> children;
      for (auto c : child_names)
        if (pick(2) == 0)
          children.push_back(c);
      auto mode = pick(2) == 0 ? execution::inline_ : execution::isolated;
      deploy(f, ctrl, t, app_of(b, app, children, mode));
      break;
    }
    case 2: {
      // A constructor breaks for good, or is fixed.
      int modes[] = {0, 0, 1000, 2};
      b[app + "/" + dep]->fail_first =
          b[app + "/" + dep]->constructions + modes[pick(4)];
      break;
    }
    case 3: {
      deployment_patch p;
      if (pick(2) == 0)
        p.num_replicas = static_cast<uint32_t>(1 + pick(2));
      else
        p.user_config = "{\"x\": " + std::to_string(pick(3)) + "}";
      fire<deployment_status>(f, ctrl, t, update_atom::value, app, dep, p,
                              pick(2) == 0);
      break;
    }
    case 4:
      if (pick(6) == 0)
        fire<bool>(f, ctrl, t, delete_atom::value, app);
      else
        fire<serve_status>(f, ctrl, t, status_atom::value);
      break;
    case 5:
      if (auto gw = gateway_of(f, ctrl, app))
        f.call(gw, -1); // a replica of its first deployment dies
      break;
    default:
      f.sched.trigger_timeouts();
      break;
    }
    if (pick(3) == 0)
      f.run();
  }
  auto st = check_settled(f, ctrl, t);
  // Every user actor alive belongs to a replica the status lists.
  CHECK(b.live() == listed_replicas(st));
  // Still in charge: every app goes, and nothing is left running.
  for (auto name : apps)
    fire<bool>(f, ctrl, t, delete_atom::value, std::string{name});
  settle(f);
  CHECK(t->answered == t->sent);
  CHECK(status(f, ctrl).applications.empty());
  CHECK(b.live() == 0);
}
