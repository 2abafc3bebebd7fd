"""The chaos step (`bench/run --only chaos`) and bench/chaos, the same
scenarios from the command line (the CI test runs three of them short)."""
import argparse
import json
import sys

from . import chaos_cluster, chaos_node
from .chaos_lib import account
from .chaos_run import Ctx
from .config import BUILD
from .procs import log

# Name on the command line -> the scenario, in the order they run.
SCENARIOS = {
    "crash": chaos_node.crash,
    "sick": chaos_node.sick,
    "rolling": chaos_node.rolling,
    "autoscale": chaos_node.autoscale,
    "kill": chaos_cluster.worker_kill,
    "stop": chaos_cluster.worker_stop,
    "models": chaos_cluster.models,
    "storm": chaos_node.storm,
    "sigterm": chaos_node.sigterm,
}


def run_all(ctx, names, **kw):
    """Runs the scenarios `names`; {name: row}. A scenario that cannot run
    (the demo does not start, ...) gets a row that says why."""
    rows = {}
    for name in names:
        log(f"chaos: {name}")
        try:
            row = SCENARIOS[name](ctx, **kw.get(name, {}))
        except Exception as e:
            row = {"name": name, "ok": False, "error": str(e) or
                   type(e).__name__, "checks": {"ran": False}}
        rows[name] = row
        bad = [c for c, ok in row["checks"].items() if not ok]
        log(f"chaos: {name}: " + ("ok" if row["ok"] else
                                 "FAILED " + "; ".join(bad)) +
            (f" ({row['error']})" if row.get("error") else ""))
    return rows


def self_check():
    """The accounting must catch what it is there to catch: a request lost,
    one that ended twice, one missing from the log, a second answer, and
    failures. Returns what it missed (empty: all caught)."""
    def summary(due, **kw):
        return dict({"due": due, "ended": due, "unsolicited": 0,
                     "ended_twice": 0, "worst_us": 0, "outcomes": {}}, **kw)
    rows = [(0, 0.0, 0.1, "200"), (1, 0.0, 0.1, "cut"),
            (2, 0.0, 0.1, "503"), (3, 0.0, 0.2, "reset")]
    good = account([((summary(4), rows), 4)])
    cases = {
        "a clean run": good["exact"] and len(good["failures"]) == 2,
        "a lost request": not account([((summary(4), rows[:3] + [
            (3, 0.0, 9.0, "timeout")]), 4)])["exact"],
        "a request ended twice": not account([((summary(4), rows + [
            rows[0]]), 4)])["exact"],
        "a request missing": not account([((summary(4), rows[:3]),
                                           4)])["exact"],
        "a second answer": not account([((summary(4, unsolicited=1), rows),
                                         4)])["exact"],
        "a schedule cut short": not account([((summary(3), rows[:3]),
                                              4)])["exact"],
    }
    return [name for name, caught in cases.items() if not caught]


class ChaosScenarios:
    """The `chaos` step of bench/run."""

    def chaos(self):
        ctx = Ctx(getattr(self.a, "build", BUILD), self.tmp)
        names = list(SCENARIOS)
        if self.a.quick:
            ctx.scale = 0.5
        self.results["chaos"] = run_all(ctx, names)
        failed = [n for n, r in self.results["chaos"].items() if not r["ok"]]
        if failed:
            raise RuntimeError("chaos scenarios failed: " + ", ".join(failed))


def main(argv=None):
    """bench/chaos [--build DIR] [--only a,b] [--scale X] [--ci]: runs the
    scenarios and prints each row; exit 1 if any check fails."""
    ap = argparse.ArgumentParser(prog="bench/chaos")
    ap.add_argument("--build", default=BUILD,
                    help="the build with apps/actorserve-demo and "
                         "tools/loadgen/loadgen (default build/bench)")
    ap.add_argument("--only", default=",".join(SCENARIOS),
                    help="comma-separated: " + ", ".join(SCENARIOS))
    ap.add_argument("--scale", type=float, default=1.0,
                    help="scale the scenarios' lengths")
    ap.add_argument("--rate-scale", type=float, default=1.0,
                    help="scale the loads' rates")
    ap.add_argument("--ci", action="store_true",
                    help="the CI test: crash, kill and storm, short and "
                         "slow, with a long request timeout")
    ap.add_argument("--json", help="write the rows to this file")
    a = ap.parse_args(argv)
    names, kw, flags = a.only.split(","), {}, []
    if a.ci:
        # A loaded 2-core machine (or a sanitizer build): no request may
        # time out for slowness, so the checks are about accounting, leaks
        # and the promise, never about timings.
        names = ["crash", "kill", "storm"]
        a.scale, a.rate_scale = 0.5, 0.25
        kw = {"storm": {"total": 1500}}
        flags = ["--request-timeout-ms", "60000"]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error("unknown scenario(s): " + ", ".join(unknown))
    missed = self_check()
    if missed:
        sys.exit("bench/chaos: the accounting misses " + ", ".join(missed))
    ctx = Ctx(a.build, scale=a.scale, rate_scale=a.rate_scale, flags=flags)
    rows = run_all(ctx, names, **kw)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1, default=str)
    for name, row in rows.items():
        print(json.dumps({k: row.get(k) for k in (
            "name", "ok", "checks", "due", "outcomes", "failed", "promise",
            "worst_ms", "repair_s", "leaked", "error")}, default=str))
    print(f"logs in {ctx.tmp}")
    sys.exit(0 if all(r["ok"] for r in rows.values()) else 1)
