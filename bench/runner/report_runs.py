"""The page's in-process sections: the handle round trip, streams, memory per
replica and the control plane."""
from .fmt import fmt_int, fmt_us


class RunSections:
    """Handles, streams, memory and control-plane sections of the Report."""

    # Scenario 3 -------------------------------------------------------------------
    def handle(self):
        h = self.r["handle"]
        self.w("## 3. In-process handle round trip", "",
               "`bench/handle_roundtrip.cpp` (Google Benchmark): a Caller "
               "deployment makes sequential calls through a `handle` to an "
               "Echo deployment and times each one, from `call` to its "
               "continuation. Medians of "
               f"{self.s.a.repetitions} repetitions. `caf/bare_actors` is the "
               "same loop between two plain CAF actors: the in-process "
               "ceiling. Ray Serve runs the same loop with a "
               "`DeploymentHandle` inside a Caller deployment "
               "(`bench/ray/handle_app.py`).", "",
               "| variant | median (µs) | mean (µs) | p99 (µs) |",
               "|---|---|---|---|")
        for name, v in h.items():
            self.w(f"| {name} | {fmt_us(v.get('p50_us'))} | "
                   f"{fmt_us(v.get('mean_us'))} | {fmt_us(v.get('p99_us'))} |")
        self.w("")

    def streams(self):
        st = self.r["streams"]
        self.w("## 4. Streaming", "",
               "Chunks per second and time to first chunk, over handles in "
               "one process and over HTTP as Server-Sent Events. Handles: "
               "`bench/stream_bench handles` (a Consumer deployment "
               "`consume()`s streams of 1,000,000 `int64_t` chunks from a "
               "Producer deployment's async generator, window 64; both "
               "isolated), and the same transfer between two bare CAF actors "
               "with CAF 0.17's stream stages, the alternative design. HTTP: "
               "`bench/stream_bench sse` against the demo's `POST /stream` "
               "(TokenStreamer -> Generator x2 through a streaming handle, "
               "SSE at the ingress) and Ray Serve's same app "
               "(`bench/ray/stream_app.py`, `StreamingResponse` over a "
               "`stream=True` handle), one client for both: one connection "
               "reading streams of 200,000 events, eight connections reading "
               "streams of 2,000, and streams of one event for the time to "
               "first event (from sending the POST).", "")
        if st.get("commit") and st["commit"] != self.info.get("commit"):
            self.w(f"Measured at commit {st['commit']}, after the rest of "
                   f"this page (`bench/run --only streams`).", "")
        h = st.get("handles")
        if h:
            self.w("| over handles (in process) | one stream, chunks/s | "
                   f"{h['streams']} streams, chunks/s | first chunk p50 | "
                   "first chunk p99 |", "|---|---|---|---|---|",
                   f"| actorserve credit protocol, isolated replicas, "
                   f"`consume()` | {fmt_int(h['chunks_per_s_one'])} | "
                   f"{fmt_int(h['chunks_per_s_many'])} | "
                   f"{h['first_chunk_p50_us']:.1f} µs | "
                   f"{h['first_chunk_p99_us']:.1f} µs |",
                   f"| CAF 0.17 stream stages, bare actors | "
                   f"{fmt_int(h['caf_streams_chunks_per_s'])} | – | "
                   f"{h.get('caf_first_chunk_p50_us', 0):,.0f} µs | "
                   f"{h.get('caf_first_chunk_p99_us', 0):,.0f} µs |", "",
                   "Time to first chunk: from the call that asks for a "
                   "one-chunk stream to its first chunk at the consumer "
                   "(1,000 streams for actorserve, 200 for CAF, whose stages "
                   "hold a batch for their batch timer).", "")
        rows = [(k, v) for k, v in (("actorserve demo", st.get("actorserve")),
                                    ("Ray Serve (default)",
                                     st.get("ray/default"))) if v]
        if rows:
            self.w("| SSE over HTTP | one stream, chunks/s | 8 streams, "
                   "chunks/s | first event p50 | first event p99 |",
                   "|---|---|---|---|---|")
            for label, v in rows:
                self.w(f"| {label} | {fmt_int(v['one']['chunks_per_s'])} | "
                       f"{fmt_int(v['many']['chunks_per_s'])} | "
                       f"{v['first']['first_event_p50_us']:.0f} µs | "
                       f"{v['first']['first_event_p99_us']:.0f} µs |")
            self.w("")
            a, ray = st.get("actorserve"), st.get("ray/default")
            if a and ray and ray["many"]["chunks_per_s"]:
                self.w(f"actorserve streams "
                       f"{a['many']['chunks_per_s'] / ray['many']['chunks_per_s']:.0f}x "
                       f"as many chunks per second as Ray Serve over 8 "
                       f"connections, on the same 2 cores.", "")

    # Scenario 6 -------------------------------------------------------------------
    def per_replica(self):
        out = {}
        for mode, runs in self.r["memory"].items():
            ns = sorted(runs)
            if len(ns) < 2:
                continue
            lo, hi = ns[0], ns[-1]
            field = "pss_kib" if mode == "ray" else "rss_kib"
            out[mode] = (runs[hi][field] - runs[lo][field]) / (hi - lo)
        return out

    def memory(self):
        m = self.r["memory"]
        self.w("## 6. Memory per idle replica and start-up", "",
               "The no-op server with N replicas: time from exec to every "
               "replica ready (the server's \"serving\" line, or Ray's first "
               "answered request), then memory 1 s later (5 s for Ray). "
               "actorserve is one process; for Ray the figure is the whole "
               "process tree, in PSS so shared pages count once.", "",
               "| server | replicas | ready after (ms) | RSS (KiB) | "
               "PSS (KiB) | processes |", "|---|---|---|---|---|---|")
        for mode, runs in m.items():
            label = "Ray Serve, default" if mode == "ray" else \
                f"actorserve, {mode}"
            for n, v in sorted(runs.items()):
                self.w(f"| {label} | {n:,} | {fmt_int(v['ready_ms'])} | "
                       f"{fmt_int(v['rss_kib'])} | {fmt_int(v['pss_kib'])} | "
                       f"{v.get('procs', 1)} |")
        self.w("")
        per = self.per_replica()
        if per:
            self.w("Memory per added replica: " + "; ".join(
                f"Ray Serve {v / 1024:,.0f} MiB (PSS)" if k == "ray" else
                f"actorserve {k} {v:,.1f} KiB" for k, v in per.items()) +
                ".", "")
        if "ray" in per:
            n = max(self.s.a.ray_replicas)
            self.w(f"Ray runs stop at {n} replicas: every Ray replica is a "
                   f"process of about {per['ray'] / 1024:,.0f} MiB, so 100 "
                   f"replicas would need about {per['ray'] * 100 / 1024**2:,.1f}"
                   f" GiB and 1,000 about {per['ray'] * 1000 / 1024**2:,.0f} "
                   f"GiB, against this machine's {self.info['mem_gib']} GiB.",
                   "")

    def control_runs(self):
        return {m: v for m, v in self.r.get("control", {}).items()
                if m in ("inline", "isolated")}

    @staticmethod
    def probe_tick_ms(idle, probed):
        """CPU per health tick of 256 probes: the extra CPU of probing all
        10,000 replicas each second, per probe, times 256."""
        extra = (probed["idle_cpu_share"] - idle["idle_cpu_share"]) * 1000
        return max(extra, 0) / probed["replicas"] * 256

    def control(self):
        c = self.r["control"]
        self.w("## 6b. The control plane at 10,000 replicas", "",
               "`bench/control_scale --replicas 10000 --mode M --seconds 5 "
               "--health-period-s P`: one process deploys 10,000 replicas of "
               "a no-op deployment, autoscaled between 10,000 and 10,000 (so "
               "the autoscaling tick reads every replica's load every 100 ms "
               "and never changes the count), then idles. *first call* is "
               "from `serve.run` to the first answered handle call; memory is "
               "the RSS added per replica; idle CPU is the process's CPU "
               "share over 5 s of idling (all threads). With P = 3600 only "
               "the autoscaling ticks run, so their CPU per tick is an upper "
               "bound on one tick; with P = 1 every replica is also probed "
               "each second, and the extra CPU per probe times 256 bounds one "
               "health tick (a tick probes at most 256 replicas; "
               "`schedule_probes` spreads the rest over the period). Before "
               "the replica-set pushes were coalesced, 10,000 replicas took "
               "846 MB and did not answer within 60 s.", "")
        if c.get("commit") and c["commit"] != self.info.get("commit"):
            self.w(f"Measured at commit {c['commit']} "
                   f"(`bench/run --only control`).", "")
        self.w("| mode | probes | deploy (s) | first call (s) | KiB per "
               "replica | idle CPU (share of a core) | CPU per 100 ms tick "
               "(ms) | status query (ms) |",
               "|---|---|---|---|---|---|---|---|")
        for mode, runs in self.control_runs().items():
            for health_s in sorted(runs):
                v = runs[health_s]
                probes = ("every replica each second" if health_s == 1
                          else "none (autoscaling ticks only)")
                self.w(f"| {mode} | {probes} | {v['deploy_s']:.3f} | "
                       f"{v['first_call_s']:.3f} | "
                       f"{v['kib_per_replica']:.1f} | "
                       f"{v['idle_cpu_share']:.3f} | "
                       f"{v['cpu_ms_per_100ms_tick']:.2f} | "
                       f"{v['status_ms']:.2f} |")
        self.w("")
