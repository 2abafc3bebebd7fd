"""The page's feature sections: batching, model multiplexing, across nodes,
and the cost of metrics."""
import statistics

from .config import MULTIPLEX_DISTS, MULTIPLEX_ROUTINGS
from .fmt import fmt_int


class FeatureSections:
    """Batching, multiplexing, cluster and metrics sections of the Report."""

    # The demo's batch model: 5 ms plus 0.1 ms per item, batches of 10,
    # one at a time.
    BATCH_IDEAL = 10 / (0.005 + 0.0001 * 10)

    def batching(self):
        b = self.r.get("batching", {})
        runs = {k: v for k, v in b.items() if isinstance(k, int)}
        self.w("## 5. Batching", "",
               "The demo's `POST /batch` (`apps/demo/batching.cpp`): a "
               "blocking model that costs 5 ms plus 0.1 ms per item, batched "
               "by `make_blocking_batch` with Ray's defaults (10 items, "
               "10 ms wait, one batch at a time), one replica admitting 64 "
               "calls. wrk posts `{\"x\": 1}` for 10 s at each concurrency. "
               "The model-bound ideal is full batches back to back: "
               f"10 / (5 ms + 10 x 0.1 ms) = {self.BATCH_IDEAL:,.0f} req/s. "
               "One client at a time gets batches of one, each after the "
               "10 ms wait.", "")
        if not runs:
            self.w("Not measured in this run.", "")
            return
        if b.get("commit") and b["commit"] != self.info.get("commit"):
            self.w(f"Measured at commit {b['commit']} "
                   f"(`bench/run --only batching`).", "")
        self.w("| connections | req/s | share of the ideal | p50 (ms) | "
               "p99 (ms) | failed |", "|---|---|---|---|---|---|")
        for conns in sorted(runs):
            v = runs[conns]
            self.w(f"| {conns} | {fmt_int(v['rps'])} | "
                   f"{v['rps'] / self.BATCH_IDEAL:.0%} | "
                   f"{v['p50_us'] / 1000:.1f} | {v['p99_us'] / 1000:.1f} | "
                   f"{int(v['failed'])} |")
        self.w("")

    def multiplexing(self):
        m = self.r.get("multiplexing", {})
        self.w("## 5b. Model multiplexing", "",
               "`bench_server --app multiplex`: 2 replicas, each holding at "
               "most 3 of 20 models (`max_num_models_per_replica=3`); a load "
               "takes 50 ms on a blocking thread, a prediction nothing. wrk "
               "(`bench/multiplex.lua`) posts for 10 s at each concurrency, "
               "naming a model per request, drawn uniformly or with Zipf "
               "weights 1/k^1.1 (the 6 most popular models then get 72 % of "
               "the requests). **Model-aware** sends the id in "
               "`serve_multiplexed_model_id`, which callers' routers read; "
               "**model-unaware** sends it in `x-model-id`, which they do "
               "not, so the same replicas are picked by load alone. A **hit** "
               "is a request that found its model loaded on the replica it "
               "reached; every other one waited for a load.", "")
        if not any(k in m for k in MULTIPLEX_DISTS):
            self.w("Not measured in this run.", "")
            return
        if m.get("commit") and m["commit"] != self.info.get("commit"):
            self.w(f"Measured at commit {m['commit']} "
                   f"(`bench/run --only multiplexing`).", "")
        self.w("| popularity | routing | connections | req/s | p50 (ms) | "
               "p99 (ms) | hit rate | failed |",
               "|---|---|---|---|---|---|---|---|")
        for dist in MULTIPLEX_DISTS:
            for routing in MULTIPLEX_ROUTINGS:
                for conns, v in sorted(m.get(dist, {}).get(routing,
                                                           {}).items()):
                    hits = v["hits"] / max(v["answers"], 1)
                    self.w(f"| {dist} | {routing} | {conns} | "
                           f"{fmt_int(v['rps'])} | {v['p50_us'] / 1000:.1f} "
                           f"| {v['p99_us'] / 1000:.1f} | {hits:.0%} | "
                           f"{int(v['failed'])} |")
        self.w("", "Bounds: with 6 model slots for 20 models, no routing "
               "hits more than 30 % under uniform popularity in steady "
               "state. Under Zipf popularity, holding the 6 hottest models "
               "would hit 72 %; least-recently-used eviction (Ray's policy) "
               "stays below that, since each request for a cold model "
               "evicts a warmer one. Every miss costs a 50 ms load, which "
               "is why the throughput follows the hit rate.", "")

    def cluster(self):
        c = self.r.get("cluster", {})
        self.w("## 5c. Across nodes", "",
               "A head and one worker node, two processes of the same binary "
               "on loopback, joined with a token (no TLS). **Round trip**: "
               "`bench/handle_roundtrip.cpp` with `--cluster-port` on the "
               "head and `--join --resources '{\"bench_worker\": 1}'` on "
               "the worker: a Caller on the head makes sequential calls to "
               "an Echo that needs `bench_worker`, so it runs on the worker; "
               "the same pair with both on the head is measured in the same "
               "run. **Echo chain**: `bench_server --app echo --remote-echo` "
               "(Echo needs `echo_node`, which only the worker offers; the "
               "Ingress runs on the head) against the same chain in one "
               "process, 10 KB bodies, alternating runs.", "")
        rt = c.get("roundtrip", {})
        if not rt:
            self.w("Not measured in this run.", "")
            return
        if c.get("commit") and c["commit"] != self.info.get("commit"):
            self.w(f"Measured at commit {c['commit']} "
                   f"(`bench/run --only cluster`).", "")
        self.w("| handle round trip | mean (us) | p50 (us) | p99 (us) |",
               "|---|---|---|---|")
        for name, v in sorted(rt.items()):
            self.w(f"| {name} | {v['mean_us']:.1f} | {v['p50_us']:.1f} | "
                   f"{v['p99_us']:.1f} |")
        echo = c.get("echo", {})
        if echo:
            self.w("", f"| echo chain, {c.get('echo_conns')} connections | "
                   "req/s (median of runs) | p50 (us) |", "|---|---|---|")
            for key, label in (("one_process", "one process"),
                               ("echo_on_worker", "Echo on a worker node")):
                runs = echo.get(key, [])
                if not runs:
                    continue
                rps = sorted(r["rps"] for r in runs)[len(runs) // 2]
                p50 = sorted(r["p50_us"] for r in runs)[len(runs) // 2]
                self.w(f"| {label} | {fmt_int(rps)} | {p50:.0f} |")
        self.w("", "A call to another node is a relayed call: it goes to the "
               "replica's actor there (the admission gate is per process), "
               "which hands it to its user actor, and the answer comes back "
               "over the same connection. The goal for the cross-node round "
               "trip is a p50 of 150 us or less.", "")

    def metrics_section(self):
        m = self.r.get("metrics", {})
        self.w("## 5d. The cost of metrics and of the access log", "",
               "`bench_server` (the no-op, isolated) with metrics on (the "
               "default), with `--no-metrics`, and with `--access-log "
               "--log-file /dev/null` as well; alternating runs of "
               f"`wrk -c{m.get('conns', '?')}`, medians. Metrics are "
               "counted in cells each I/O thread and replica owns (no "
               "lock); each access-log line takes the log sink's lock.", "")
        runs = m.get("runs", {})
        if not runs:
            self.w("Not measured in this run.", "")
            return
        if m.get("commit") and m["commit"] != self.info.get("commit"):
            self.w(f"Measured at commit {m['commit']} "
                   f"(`bench/run --only metrics`).", "")
        base = statistics.median(w["rps"] for w in runs.get("metrics off", [])
                                 ) if runs.get("metrics off") else None
        ins = m.get("instructions", {})
        ins_base = ins.get("metrics off")
        self.w("| variant | req/s | p50 (us) | p99 (us) | vs metrics off "
               "| instructions/request (callgrind) | vs metrics off |",
               "|---|---|---|---|---|---|---|")
        for label in ("metrics off", "metrics on",
                      "metrics and access log on"):
            ws = runs.get(label)
            if not ws:
                continue
            rps = statistics.median(w["rps"] for w in ws)
            p50 = statistics.median(w["p50_us"] for w in ws)
            p99 = statistics.median(w["p99_us"] for w in ws)
            ratio = f"{100 * rps / base:.0f} %" if base else "-"
            n = ins.get(label)
            count = f"{n:,.0f}" if n else "-"
            extra = (f"{n - ins_base:+,.0f}" if n and ins_base else "-")
            self.w(f"| {label} | {rps:.0f} | {p50:.0f} | {p99:.0f} | "
                   f"{ratio} | {count} | {extra} |")
        self.w("", "Instructions are counted by callgrind over "
               f"{m.get('callgrind_requests', 'the same number of')} "
               "requests with one I/O thread, the whole process: unlike "
               "req/s on a shared machine, they do not depend on what else "
               "runs, so their difference is the cost of counting.", "")
        on, log_on = ins.get("metrics on"), ins.get("metrics and access log on")
        if ins_base and on and log_on:
            self.w(f"Counting a request with metrics on (its route's cells, "
                   f"an HTTP counter and histogram, the replica's counter "
                   f"and histogram, two clock reads) costs "
                   f"{on - ins_base:,.0f} instructions, "
                   f"{100 * (on - ins_base) / ins_base:.1f} % of the "
                   f"no-op's path, and takes no lock; req/s differences "
                   f"that small are within a shared machine's noise. The "
                   f"access log costs {log_on - on:,.0f} instructions a "
                   f"request more (a formatted line and the sink's lock), "
                   f"which is why it is off by default.", "")
