"""The command line: arguments, the steps in order, the saved results and the
page (main)."""
import argparse
import datetime
import json
import os
import sys

import scaling  # bench/scaling.py

from .config import BENCH, BUILD, ROOT, VENV
from .host import machine, setup
from .procs import log
from .report import Report
from .report_chaos import ReliabilityReport
from .suite import Suite


def int_keys(x):
    """JSON turns the int keys (connections, replicas, spins) into strings;
    turn them back."""
    if isinstance(x, dict):
        return {int(k) if k.isdigit() else k: int_keys(v)
                for k, v in x.items()}
    if isinstance(x, list):
        return [int_keys(v) for v in x]
    return x


def measured_page(results):
    """Whether a run holds figures for docs/benchmarks.md: the chaos, soak
    and ha steps alone touch docs/reliability.md only, where their figures
    live."""
    return any(v for k, v in results.items()
               if k not in ("chaos", "soak", "ha"))


def selected(name, words, names):
    """Whether --only's `words` pick the step `name`: a word that is a
    step's whole name picks that step alone ('ha' is not 'chaos'), any
    other word every step whose name contains it."""
    return any(w == name if w in names else w in name for w in words)


def main(doc):
    """`doc`: bench/run's docstring, whose first line --help shows."""
    ap = argparse.ArgumentParser(prog="bench/run",
                                 description=doc.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="short runs, to check the harness")
    ap.add_argument("--no-ray", dest="ray", action="store_false",
                    help="leave out the Ray Serve peer")
    ap.add_argument("--no-callgrind", dest="callgrind", action="store_false",
                    help="leave out the instruction counts (valgrind)")
    ap.add_argument("--skip-setup", action="store_true",
                    help="use the existing build/bench")
    ap.add_argument("--threads", type=int, default=1,
                    help="system-plane threads of the actorserve servers")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs",
                                                  "benchmarks.md"),
                    help="the document to write (plots go to img/ beside "
                         "it)")
    ap.add_argument("--only", metavar="STEPS",
                    help="run only the steps whose names contain one of these "
                         "comma-separated words (a step's whole name, such as "
                         "'ha', picks that step alone; e.g. 'streams'), "
                         "on top of the saved run given by --merge")
    ap.add_argument("--merge", metavar="JSON",
                    help="with --only: the saved run (bench/results/*.json) "
                         "whose other results the document keeps")
    ap.add_argument("--fuzz-seconds", type=int, default=600,
                    help="with --only fuzz: seconds per fuzz harness "
                         "(default 600)")
    ap.add_argument("--httpfuzz-count", type=int, default=20000,
                    help="with --only fuzz: requests tools/httpfuzz sends to "
                         "the demo (default 20000)")
    ap.add_argument("--build", default=BUILD,
                    help="with --skip-setup: the build whose demo and "
                         "loadgen the chaos and soak steps run (default "
                         "build/bench)")
    ap.add_argument("--soak-minutes", type=float,
                    help="length of the soak (default 60 with --only soak, "
                         "10 in the full run)")
    ap.add_argument("--reliability", default=os.path.join(
                        ROOT, "docs", "reliability.md"),
                    help="the document whose generated part the chaos and "
                         "soak steps rewrite")
    ap.add_argument("--from-results", metavar="JSON",
                    help="rewrite the document from a saved run "
                         "(bench/results/*.json) without measuring")
    a = ap.parse_args()
    a.conns = [1, 8, 32, 64]
    a.duration, a.open_seconds, a.rounds, a.repetitions = 5, 5, 2, 5
    a.noop_rates = [(100, 8), (1000, 1), (1000, 64), (10000, 64),
                    (30000, 64)]
    a.echo_rates = [(100, 8), (1000, 64), (5000, 64), (10000, 64)]
    a.replicas, a.ray_replicas = [1, 100, 1000], [1, 8]
    a.callgrind_requests = 500
    a.spins = [0, 20, 50, 100]
    if a.quick:
        a.conns = [1, 32]
        a.duration, a.open_seconds, a.rounds, a.repetitions = 1, 1, 1, 2
        a.noop_rates, a.echo_rates = [(1000, 1), (10000, 64)], [(1000, 64)]
        a.replicas, a.ray_replicas = [1, 100], [1]
        a.callgrind_requests = 100
        a.spins = [0, 50]
        a.fuzz_seconds = min(a.fuzz_seconds, 30)
        a.httpfuzz_count = min(a.httpfuzz_count, 1000)
    if a.soak_minutes is None:
        a.soak_minutes = 60 if a.only and "soak" in a.only.split(",") else 10
        if a.quick:
            a.soak_minutes = 2
    command = "bench/run" + "".join(" " + x for x in sys.argv[1:])
    suite = Suite(a)
    suite.errors = {}
    if a.from_results:
        with open(a.from_results) as f:
            saved = int_keys(json.load(f))
        suite.results, suite.errors = saved["results"], saved["errors"]
        suite.ray_error = saved.get("ray_error")
        command = saved.get("command", "bench/run")
        if measured_page(suite.results):
            Report(suite, saved["info"], command,
                   os.path.join(os.path.dirname(a.out), "img")).write(a.out)
        ReliabilityReport(suite.results, saved["info"], command).write(
            a.reliability)
        log(f"wrote {a.out if measured_page(suite.results) else ''} "
            f"{a.reliability} from {a.from_results}")
        return
    if not a.skip_setup:
        err = setup(a.ray)
        if err:
            suite.ray_error = f"installing it failed:\n\n```\n{err}\n```"
    elif a.ray and not os.path.exists(os.path.join(VENV, "bin", "ray")):
        suite.ray_error = f"no virtual environment at {VENV} (--skip-setup)"
    info = machine()
    if info["load"] > 0.5:
        log(f"warning: load average {info['load']:.2f}: the machine is busy")
    steps = [("HTTP scenarios, local servers", suite.local_http),
             ("scaling with threads",
              lambda: scaling.measure(suite, sys.modules[__package__])),
             ("https", suite.https),
             ("handle round trip", suite.handle_roundtrip),
             ("streams", suite.streams),
             ("memory and start-up", suite.memory),
             ("control plane at scale", suite.control),
             ("batching", suite.batching),
             ("multiplexing", suite.multiplexing),
             ("cluster", suite.cluster),
             ("metrics cost", suite.metrics_cost),
             ("idle spin", suite.idle_spin),
             ("chaos", suite.chaos),
             ("ha", suite.ha),
             ("soak", suite.soak)]
    if a.callgrind:
        steps.append(("callgrind", suite.callgrind))
    # The fuzzing campaign (an hour and more) runs only when asked for.
    if a.only and "fuzz" in a.only.split(","):
        steps.append(("fuzz", suite.fuzz))
    if suite.ray_error is None:
        steps += [("Ray Serve HTTP scenarios", suite.ray_http),
                  ("Ray Serve handle round trip", suite.ray_handle),
                  ("Ray Serve streams", suite.ray_streams),
                  ("Ray Serve memory", suite.ray_memory)]
    if a.only:
        words = a.only.split(",")
        names = {n for n, _ in steps}
        steps = [(n, f) for n, f in steps if selected(n, words, names)]
        if a.merge:
            with open(a.merge) as f:
                saved = int_keys(json.load(f))
            for key, value in saved["results"].items():
                suite.results.setdefault(key, {})
                for k, v in value.items():
                    suite.results[key].setdefault(k, v)
            suite.errors.update(saved["errors"])
            command = saved.get("command", "bench/run") + "; then " + command
            # The page's header describes the full run; the merged steps
            # say their own commit.
            info = saved["info"]
    for name, step in steps:
        log(f"== {name}")
        try:
            step()
        except Exception as e:  # the report says which step failed and why
            log(f"{name} failed: {e}")
            suite.errors[name] = str(e) or type(e).__name__
    os.makedirs(os.path.join(BENCH, "results"), exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(BENCH, "results", f"{stamp}.json"), "w") as f:
        json.dump({"info": info, "command": command,
                   "ray_error": suite.ray_error, "results": suite.results,
                   "errors": suite.errors}, f, indent=1, default=str)
    only_reliability = not measured_page(suite.results)
    if not only_reliability:
        Report(suite, info, command,
               os.path.join(os.path.dirname(a.out), "img")).write(a.out)
    if ReliabilityReport(suite.results, info, command).write(a.reliability):
        log(f"wrote the generated part of {a.reliability}")
    log(("" if only_reliability else f"wrote {a.out}; ") +
        f"raw results in bench/results/{stamp}.json; "
        f"logs in {suite.tmp}")
