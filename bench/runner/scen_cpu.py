"""Scenarios that count CPU: the cost of metrics and instructions per request
under callgrind."""
import os
import urllib.request

from .callgrind import components
from .config import ROOT
from .load import loadgen, wrk
from .procs import free_port, log, run, start, stop, tail, wait_http
from .servers import start_local


class CpuScenarios:
    """Metrics-cost and callgrind scenarios of the Suite."""

    def metrics_cost(self):
        """The no-op with metrics on (the default), off (--no-metrics), and
        with the access log on as well (to /dev/null), side by side in
        alternating rounds."""
        res = self.results.setdefault("metrics", {})
        res["commit"] = run(["git", "-C", ROOT, "rev-parse", "--short",
                             "HEAD"], timeout=10).stdout.strip()
        variants = (("metrics on", []), ("metrics off", ["--no-metrics"]),
                    ("metrics and access log on",
                     ["--access-log", "--log-file", "/dev/null"]))
        conns = max(self.a.conns)
        res["conns"] = conns
        res["runs"] = {}  # replaces a merged run's rounds (--merge)
        for _ in range(self.a.rounds):
            for label, extra in variants:
                t = start_local(
                    self.tmp, "metrics_" + label.replace(" ", "_"), label,
                    [self.bin("bench_server"), "--port", "{port}",
                     "--threads", str(self.a.threads)] + extra, "/", False)
                try:
                    w = wrk(t.url, conns, self.a.duration)
                    if w is None:
                        raise RuntimeError(f"wrk gave no result for {label}")
                    res.setdefault("runs", {}).setdefault(label, []).append(w)
                    log(f"metrics {label}: {w['rps']:.0f} req/s p50 "
                        f"{w['p50_us']:.0f} us")
                finally:
                    stop(t.proc)
        if not self.a.callgrind:
            return
        # Instructions are repeatable where req/s on a shared machine is
        # not: the difference is the cost of counting.
        res["callgrind_requests"] = self.a.callgrind_requests
        for label, extra in variants:
            key = "metrics_" + label.replace(" ", "_")
            total, out = self.count_instructions(
                key, [self.bin("bench_server"), "--mode", "isolated",
                      "--port", "{port}", "--threads", "1"] + extra)
            groups, _ = components(out)
            res.setdefault("instructions", {})[label] = (
                sum(groups.values()) / total)
            log(f"metrics {label}: "
                f"{res['instructions'][label]:.0f} instructions/request")

    def callgrind(self):
        """Instructions per request by component, for the no-op path."""
        for key, cmd in (
                ("bare", [self.bin("restinio_hello"), "{port}", "1"]),
                ("actorserve_inline",
                 [self.bin("bench_server"), "--mode", "inline", "--port",
                  "{port}", "--threads", "1"]),
                ("actorserve_isolated",
                 [self.bin("bench_server"), "--mode", "isolated", "--port",
                  "{port}", "--threads", "1"])):
            total, out = self.count_instructions(key, cmd)
            self.results["callgrind"][key] = {
                "requests": total}
            (self.results["callgrind"][key]["components"],
             self.results["callgrind"][key]["top"]) = components(out)
            log(f"callgrind {key}: {total} requests")

    def count_instructions(self, key, cmd):
        """Runs `cmd` under callgrind and sends it `callgrind_requests`
        requests after a warm-up; the requests answered and the callgrind
        file that counted them."""
        requests = self.a.callgrind_requests
        port = free_port()
        out = os.path.join(self.tmp, f"callgrind.{key}")
        # Uninstrumented until the server is up; counters zeroed after a
        # warm-up; one dump (out.1) after the counted requests.
        proc = start(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                      f"--callgrind-out-file={out}"] +
                     [c.replace("{port}", str(port)) for c in cmd],
                     out + ".log")
        try:
            url = f"http://127.0.0.1:{port}/"
            if not wait_http(url, proc, timeout=120):
                raise RuntimeError(tail(out + ".log"))
            run(["callgrind_control", "-i", "on", str(proc.pid)], 60)
            for _ in range(50):  # warm-up, not counted
                urllib.request.urlopen(url, timeout=5).read()
            run(["callgrind_control", "-z", str(proc.pid)], 60)
            g = loadgen(url, 100, 1, requests / 100, warmup=0)
            run(["callgrind_control", "-d", str(proc.pid)], 60)
        finally:
            stop(proc, grace=60)
        total = (g or {}).get("completed", 0)
        if not total:
            raise RuntimeError(f"callgrind {key}: no requests answered")
        return total, out + ".1"
