"""The chaos suite's common run: a fault schedule under steady open-loop
load, then the verdict of one scenario (exact accounting, failures against
the promise, worst latency, time to repair, leaked slots)."""
import collections
import json
import os
import tempfile
import threading
import time

from .chaos_lib import Load, Poller, account, scheduled, settle

# Every wait of the suite is bounded: a repair, a settle, a rejoin.
REPAIR_LIMIT_S = 30.0


class Ctx:
    """Where a scenario runs: the build with the demo and loadgen, a
    scratch directory, and `scale` (1: the bench's lengths; the CI test
    runs shorter and slower)."""

    def __init__(self, build, tmp=None, scale=1.0, rate_scale=1.0,
                 flags=()):
        self.build = build
        self.tmp = tmp or tempfile.mkdtemp(prefix="actorserve-chaos-")
        self.scale, self.rate_scale, self.flags = scale, rate_scale, flags

    def s(self, seconds):
        return max(1.0, round(seconds * self.scale, 1))

    def r(self, rate):
        return max(5, int(rate * self.rate_scale))


class Spec:
    """One load of a scenario: route, rate, seconds, and loadgen's other
    arguments."""

    def __init__(self, name, path, rate, seconds, **kw):
        self.name, self.path, self.rate, self.seconds = (name, path, rate,
                                                         seconds)
        self.kw = kw

    def text(self):
        cut = self.kw.get("cut")
        return (f"{self.kw.get('method', 'GET')} {self.path} "
                f"{self.rate}/s × {self.seconds:g} s"
                + (f", {self.kw.get('conns', 8)} conns" if not cut else
                   f", cut at random points (≤ {self.kw['cut_max_ms']} ms)"))


class Fault:
    """One fault: when it happened, what it was, and the status predicate
    that says the deployment is repaired."""

    def __init__(self, t, what, repaired=None):
        self.t, self.what, self.repaired = t, what, repaired
        self.repair_s = None


def later(t0, at):
    """Sleeps until `at` seconds after `t0` (a fault schedule)."""
    time.sleep(max(0.0, t0 + at - time.monotonic()))


def background(fn):
    """Runs `fn` on a thread; join() then gives its result."""
    box = {}
    th = threading.Thread(target=lambda: box.setdefault("v", fn()),
                          daemon=True)
    th.start()

    def join(timeout=60):
        th.join(timeout)
        return box.get("v")
    return join


def run_scenario(ctx, name, demo, specs, schedule, promise, keys,
                 settle_demo=True):
    """Runs `specs` against `demo`, calls `schedule(t0, demo, poller)`
    (the faults, in time; it returns the Faults and a dict of extra
    figures), then waits for repairs and the end of the loads, and returns
    the scenario's row. `promise(faults)`: the most failed requests
    allowed. `keys`: the deployments whose replicas the status must show
    back at target."""
    poller = Poller(demo.admin)
    poller.start()
    t0 = time.monotonic()
    loads = [(Load(ctx.build, ctx.tmp, f"{name}_{sp.name}", demo.port,
                   sp.path, sp.rate, sp.seconds, **sp.kw),
              scheduled(sp.rate, sp.seconds)) for sp in specs]
    try:
        faults, extra = schedule(t0, demo, poller)
        for f in faults:
            if f.repaired:
                at = poller.wait(f.t, f.repaired, REPAIR_LIMIT_S)
                f.repair_s = None if at is None else round(at - f.t, 3)
        results = [(ld.result(), exp) for ld, exp in loads]
        leaked, settle_s = settle(demo) if settle_demo else (0, 0.0)
    finally:
        poller.stop()
    acct = account(results)
    # A scenario may count only some failures against its promise (SIGTERM:
    # those due before the signal); the others are reported apart.
    counts = extra.pop("counts", lambda t_due, what: True)
    every = acct.pop("failures")
    failures = [f for f in every if counts(*f)]
    excused = collections.Counter(w for f in every if not counts(*f)
                                  for w in [f[1]])
    extra_checks = extra.pop("checks", {})
    allowed = promise(faults)
    repairs = [f.repair_s for f in faults if f.repaired]
    row = {"name": name, "loads": [sp.text() for sp in specs],
           "faults": len(faults), "fault": faults[0].what if faults else "",
           "promise": allowed, "failed": len(failures),
           "failed_by": dict(collections.Counter(w for _, w in failures)),
           "worst_ms": round(acct["worst_ms"], 1),
           "repair_s": repairs, "leaked": leaked,
           "repair_by": [[f.what, f.repair_s] for f in faults if f.repaired],
           "excused_by": dict(excused),
           "settle_s": round(settle_s, 2), **acct, **extra}
    row["checks"] = {
        "exactly one end per request": acct["exact"],
        "no slot leaked": leaked == 0,
        f"failed ≤ promise ({allowed})": len(failures) <= allowed,
        "repaired": all(r is not None for r in repairs)}
    row["checks"].update(extra_checks)
    row["ok"] = all(row["checks"].values())
    with open(os.path.join(ctx.tmp, f"{name}.json"), "w") as f:
        json.dump(row, f, indent=1, default=str)
    return row
