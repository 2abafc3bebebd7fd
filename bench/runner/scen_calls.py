"""Scenarios in one process: the handle round trip, streams, memory per
replica and the control plane at 10,000 replicas (and their Ray peers)."""
import json
import os
import time

from .config import BUILD, ROOT
from .procs import log, memory, run, start, stop, tail, wait_line
from .servers import start_local, start_ray, stop_ray


class CallScenarios:
    """Handles, streams, memory and control-plane scenarios of the Suite."""

    def handle_roundtrip(self):
        # Default spin budget, then one polling thread per thread of an
        # isolated-to-isolated call (3), more than this machine may have.
        for extra, suffix in (([], ""), (["--spin-threads", "3"],
                                         "/3 spinning threads")):
            r = run([self.bin("handle_roundtrip"), "--benchmark_format=json",
                     f"--benchmark_repetitions={self.a.repetitions}",
                     "--benchmark_min_time=0.3", "--threads",
                     str(self.a.threads)] + extra, timeout=600)
            data = json.loads(r.stdout)
            for b in data["benchmarks"]:
                if b.get("aggregate_name") != "median":
                    continue
                name = b["run_name"].replace("/manual_time", "")
                if suffix and not name.startswith("handle/caller_isolated"):
                    continue
                name += suffix
                self.results["handle"][name] = {
                    "mean_us": b["real_time"] / 1000.0,
                    "p50_us": b.get("p50_us"), "p99_us": b.get("p99_us")}
                log(f"handle {name}: {self.results['handle'][name]}")

    def ray_handle(self):
        proc, path, _ = start_ray(self.tmp, "handle", "default", args=(
            "--roundtrip-seconds", str(self.a.duration)))
        try:
            line = wait_line(path, r"^ROUNDTRIP ", proc, 300)
            if line is None:
                raise RuntimeError(tail(path))
            self.results["handle"]["ray/default"] = json.loads(
                line.split(" ", 1)[1])
        finally:
            stop_ray(proc)

    # -- streams: handles in process, SSE over HTTP against Ray Serve's peer --

    STREAM_BODY = '{"prompt": "the quick brown fox", "n": 1, "delay_ms": 0}'

    def sse_runs(self, url):
        """The same SSE client runs against any server's POST /stream."""
        secs = str(self.a.duration)
        out = {}
        for key, chunks, conns in (("one", 200000, 1), ("many", 2000, 8),
                                   ("first", 1, 1)):
            r = run([self.bin("stream_bench"), "sse", url, "--chunks",
                     str(chunks), "--streams", str(conns), "--seconds", secs],
                    timeout=120)
            out[key] = json.loads(r.stdout)
            log(f"sse {url} {key}: {out[key]}")
        return out

    def streams(self):
        self.results["streams"]["commit"] = run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
            timeout=10).stdout.strip()
        r = run([self.bin("stream_bench"), "handles", "--chunks", "1000000",
                 "--streams", "8", "--window", "64"], timeout=600)
        self.results["streams"]["handles"] = json.loads(r.stdout)
        log(f"stream handles: {self.results['streams']['handles']}")
        t = start_local(self.tmp, "actorserve_stream",
                        "actorserve demo, POST /stream",
                        [os.path.join(BUILD, "apps", "actorserve-demo"),
                         "--port", "{port}", "--threads",
                         str(self.a.threads), "--http-threads", "1"],
                        "/stream/stats", False)
        try:
            self.results["streams"]["actorserve"] = self.sse_runs(
                t.url.replace("/stream/stats", "/stream"))
        finally:
            stop(t.proc)

    def ray_streams(self):
        proc, path, _ = start_ray(self.tmp, "stream", "default")
        try:
            line = wait_line(path, r"^URL ", proc, 300)
            if line is None or wait_line(path, r"^READY", proc, 300) is None:
                raise RuntimeError(tail(path))
            self.results["streams"]["ray/default"] = self.sse_runs(
                line.split(" ", 1)[1].strip())
        finally:
            stop_ray(proc)

    def memory(self):
        for mode in ("isolated", "inline"):
            for n in self.a.replicas:
                log_path = os.path.join(self.tmp, f"mem_{mode}_{n}.log")
                t0 = time.monotonic()
                proc = start([self.bin("bench_server"), "--port", "0",
                              "--mode", mode, "--replicas", str(n),
                              "--threads", str(self.a.threads)], log_path)
                try:
                    if wait_line(log_path, "serving", proc, 120) is None:
                        raise RuntimeError(tail(log_path))
                    ready = time.monotonic() - t0
                    time.sleep(1)  # let start-up allocations settle
                    _, rss, pss = memory(proc.pid)
                    self.results["memory"].setdefault(mode, {})[n] = {
                        "ready_ms": ready * 1000, "rss_kib": rss,
                        "pss_kib": pss}
                    log(f"memory {mode} {n}: {ready * 1000:.0f} ms "
                        f"{rss} KiB")
                finally:
                    stop(proc)

    def control(self):
        """The control plane at 10,000 replicas (bench/control_scale.cpp):
        once with probes every second, once with the autoscaling ticks
        alone, in both modes."""
        self.results["control"]["commit"] = run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
            timeout=10).stdout.strip()
        for mode in ("inline", "isolated"):
            for health_s in (1, 3600):
                r = run([self.bin("control_scale"), "--replicas", "10000",
                         "--mode", mode, "--seconds", "5",
                         "--health-period-s", str(health_s)], timeout=300)
                if r.returncode != 0:
                    raise RuntimeError(r.stderr[-500:])
                v = json.loads(r.stdout)
                self.results["control"].setdefault(mode, {})[health_s] = v
                log(f"control {mode} health {health_s}s: {v}")
        # A scale-up to 100,000 replicas while the status is asked for
        # every 10 ms: the controller starts replicas in bounded steps and
        # keeps answering (docs/reliability.md).
        r = run([self.bin("control_scale"), "--scale-to", "100000",
                 "--mode", "isolated"], timeout=900)
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-500:])
        v = json.loads(r.stdout)
        self.results["control"]["scale_up"] = v
        log(f"control scale-up: {v}")

    def ray_memory(self):
        for n in self.a.ray_replicas:
            proc, path, t0 = start_ray(self.tmp, "noop", "default",
                                       {"RAY_BENCH_REPLICAS": str(n)})
            try:
                if wait_line(path, r"^READY", proc, 600) is None:
                    raise RuntimeError(tail(path))
                ready = time.monotonic() - t0
                time.sleep(5)  # Ray keeps starting helpers after READY
                procs, rss, pss = memory(proc.pid)
                self.results["memory"].setdefault("ray", {})[n] = {
                    "ready_ms": ready * 1000, "rss_kib": rss,
                    "pss_kib": pss, "procs": procs}
                log(f"memory ray {n}: {ready:.1f} s {pss} KiB PSS "
                    f"in {procs} processes")
            finally:
                stop_ray(proc)
