"""The fuzzing campaign (`bench/run --only fuzz`): every libFuzzer harness of
tests/fuzz for a fixed time (tools/fuzz), then tools/httpfuzz against the
demo; executions, coverage and findings go into the run's results."""
import json
import os
import re
import time

from .config import BUILD, ROOT
from .procs import free_port, log, run, start, stop, wait_http


def _findings(out, name):
    """What a failed harness left: each crashing input (tools/fuzz keeps
    them) and the line that says what it breaks."""
    found = []
    path = os.path.join(out, name, "findings.txt")
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            found = [line.strip()[:240] for line in f if line.strip()]
    path = os.path.join(out, name, "regressions.log")
    if not found and os.path.exists(path):
        with open(path, errors="replace") as f:
            found = ["regression: " + line.strip()[:220] for line in f
                     if re.search(r"property violated|ERROR: ", line)][:4]
    return found


class FuzzScenarios:
    """The `fuzz` step."""

    def fuzz(self):
        a, res = self.a, self.results["fuzz"]
        out = os.path.join(self.tmp, "fuzz")
        log(f"fuzzing each harness for {a.fuzz_seconds} s (tools/fuzz)")
        t0 = time.monotonic()
        r = run([os.path.join(ROOT, "tools", "fuzz"), "--seconds",
                 str(a.fuzz_seconds), "--keep-going", "--out", out],
                timeout=20 * a.fuzz_seconds + 1800)
        res["seconds"] = a.fuzz_seconds
        res["wall_s"] = round(time.monotonic() - t0)
        summary = os.path.join(out, "summary.json")
        if not os.path.exists(summary):
            raise RuntimeError("tools/fuzz did not finish: " +
                               (r.stdout + r.stderr)[-500:])
        with open(summary) as f:
            res["harnesses"] = json.load(f)
        for name, h in res["harnesses"].items():
            if h["status"] != "ok":
                h["findings"] = _findings(out, name)
        res["out"] = out
        self.httpfuzz()
        failed = [n for n, h in res["harnesses"].items()
                  if h["status"] != "ok"]
        if res["http"].get("status"):  # None: the tool was not built
            failed.append("httpfuzz")
        if failed:
            raise RuntimeError("findings in " + ", ".join(failed))

    def httpfuzz(self):
        """tools/httpfuzz against the demo: `httpfuzz_count` requests."""
        a, res = self.a, self.results["fuzz"]
        tool = os.path.join(BUILD, "tools", "httpfuzz", "httpfuzz")
        demo = os.path.join(BUILD, "apps", "actorserve-demo")
        if not os.path.exists(tool):
            res["http"] = {"status": None, "output": f"no {tool}"}
            return
        port = free_port()
        proc = start([demo, "--port", str(port), "--admin-port", "0"],
                     os.path.join(self.tmp, "httpfuzz_demo.log"))
        try:
            if not wait_http(f"http://127.0.0.1:{port}/-/healthz", proc):
                raise RuntimeError("the demo did not come up")
            t0 = time.monotonic()
            r = run([tool, "--port", str(port), "--pid", str(proc.pid),
                     "--seed", "1", "--count", str(a.httpfuzz_count),
                     "--batch", "100", "--save", self.tmp],
                    timeout=3600)
            res["http"] = {"status": r.returncode,
                           "count": a.httpfuzz_count,
                           "wall_s": round(time.monotonic() - t0),
                           "output": (r.stdout + r.stderr).strip()[-1000:]}
        finally:
            stop(proc)
