"""Scenarios of serving features: batching, model multiplexing, and serving
across nodes."""
import json
import os

from .config import (BUILD, MULTIPLEX_DISTS, MULTIPLEX_ROUTINGS,
                     MULTIPLEX_SCRIPT, ROOT)
from .load import wrk
from .procs import free_port, log, run, start, stop, tail, wait_line
from .servers import start_local


class FeatureScenarios:
    """Batching, multiplexing and cluster scenarios of the Suite."""

    def batching(self):
        """The demo's POST /batch at saturation (its model costs 5 ms plus
        0.1 ms per item), against the ideal that follows from that cost."""
        self.results["batching"]["commit"] = run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
            timeout=10).stdout.strip()
        t = start_local(self.tmp, "actorserve_batch",
                        "actorserve demo, POST /batch",
                        [os.path.join(BUILD, "apps", "actorserve-demo"),
                         "--port", "{port}", "--admin-port", "0",
                         "--threads", str(self.a.threads),
                         "--http-threads", "1"],
                        "/batch", b'{"x": 1}')
        try:
            for conns in (1, 16, 64):
                res = wrk(t.url, conns, 10, body='{"x": 1}')
                if res is None:
                    raise RuntimeError("wrk gave no result")
                self.results["batching"][conns] = res
                log(f"batching c={conns}: {res['rps']:.0f} req/s "
                    f"p99 {res['p99_us']:.0f} us")
        finally:
            stop(t.proc)

    def multiplexing(self):
        """20 models over 2 replicas of 3 models each (bench_server --app
        multiplex), with model-aware routing and without it."""
        self.results["multiplexing"]["commit"] = run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
            timeout=10).stdout.strip()
        port = free_port()
        log_path = os.path.join(self.tmp, "actorserve_multiplex.log")
        proc = start([self.bin("bench_server"), "--app", "multiplex",
                      "--port", str(port), "--threads", str(self.a.threads),
                      "--http-threads", "1"], log_path)
        url = f"http://127.0.0.1:{port}/"
        try:
            if wait_line(log_path, "serving", proc, 60) is None:
                raise RuntimeError(tail(log_path))
            for dist, zipf in MULTIPLEX_DISTS.items():
                for routing, header in MULTIPLEX_ROUTINGS.items():
                    for conns in (4, 16):
                        res = wrk(url, conns, 10, script=MULTIPLEX_SCRIPT,
                                  env_extra={"MODELS": "20",
                                             "ZIPF_S": str(zipf),
                                             "MODEL_HEADER": header})
                        if res is None:
                            raise RuntimeError("wrk gave no result")
                        self.results["multiplexing"].setdefault(
                            dist, {}).setdefault(routing, {})[conns] = res
                        log(f"multiplexing {dist} {routing} c={conns}: "
                            f"{res['rps']:.0f} req/s p99 "
                            f"{res['p99_us']:.0f} us hits "
                            f"{res['hits'] / max(res['answers'], 1):.0%}")
        finally:
            stop(proc)

    def cluster(self):
        """Across nodes on loopback: the handle round trip with the callee on
        a worker node (bench/handle_roundtrip.cpp, cluster variants), and
        the echo chain with Echo on a worker against one process, side by
        side."""
        res = self.results["cluster"]
        res["commit"] = run(["git", "-C", ROOT, "rev-parse", "--short",
                             "HEAD"], timeout=10).stdout.strip()
        env = dict(os.environ)
        env["ACTORSERVE_CLUSTER_TOKEN"] = "bench-cluster-token"

        def head_and_worker(key, head_cmd, worker_cmd, ready):
            cport = free_port()
            head_log = os.path.join(self.tmp, key + "_head.log")
            head = start(head_cmd + ["--cluster-port", str(cport)], head_log,
                         env=env)
            worker = start(worker_cmd + ["--join", f"127.0.0.1:{cport}"],
                           os.path.join(self.tmp, key + "_worker.log"),
                           env=env)
            if wait_line(head_log, ready, head, 120) is None:
                stop(worker)
                stop(head)
                raise RuntimeError(tail(head_log))
            return head, worker, head_log

        # Handle round trip: the head runs the benchmark, then exits.
        rt = self.bin("handle_roundtrip")
        head, worker, head_log = head_and_worker(
            "cluster_roundtrip",
            [rt, "--benchmark_format=json",
             f"--benchmark_repetitions={self.a.repetitions}",
             "--benchmark_min_time=1", "--threads", str(self.a.threads)],
            [rt, "--resources", '{"bench_worker": 1}', "--threads",
             str(self.a.threads)], r"node \d+ joined")
        try:
            head.wait(timeout=600)
        finally:
            stop(worker)
            stop(head)
        with open(head_log) as f:
            text = f.read()
        data = json.loads(text[text.index("{"):text.rindex("}") + 1])
        for b in data["benchmarks"]:
            if b.get("aggregate_name") != "median":
                continue
            name = b["run_name"].replace("/manual_time", "")
            res.setdefault("roundtrip", {})[name] = {
                "mean_us": b["real_time"] / 1000.0,
                "p50_us": b.get("p50_us"), "p99_us": b.get("p99_us")}
            log(f"cluster {name}: {res['roundtrip'][name]}")
        # The echo chain (10 KB bodies), Echo on a worker vs one process.
        srv = self.bin("bench_server")
        common = ["--app", "echo", "--threads", str(self.a.threads),
                  "--http-threads", "1"]
        single = start_local(self.tmp, "cluster_single", "one process",
                             [srv] + common + ["--port", "{port}"], "/",
                             True)
        port = free_port()
        head, worker, _ = head_and_worker(
            "cluster_echo",
            [srv, "--remote-echo", "--port", str(port)] + common,
            [srv, "--remote-echo", "--resources", '{"echo_node": 1}'] +
            common, "serving")
        try:
            url = f"http://127.0.0.1:{port}/"
            conns = max(self.a.conns)
            res["echo"] = {}  # replaces a merged run's rounds (--merge)
            for _ in range(self.a.rounds):
                for key, u in (("one_process", single.url),
                               ("echo_on_worker", url)):
                    w = wrk(u, conns, self.a.duration, post_bytes=10240)
                    if w is None:
                        raise RuntimeError(f"wrk gave no result for {key}")
                    res.setdefault("echo", {}).setdefault(key, []).append(w)
                    log(f"cluster echo {key}: {w['rps']:.0f} req/s p50 "
                        f"{w['p50_us']:.0f} us")
            res["echo_conns"] = conns
        finally:
            stop(single.proc)
            stop(worker)
            stop(head)
