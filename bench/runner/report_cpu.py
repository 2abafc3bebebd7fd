"""The page's CPU sections: where the time goes (CPU per request, callgrind
instructions by component, the explanation) and the idle spin."""
from .callgrind import COMPONENTS
from .fmt import fmt_int


class CpuSections:
    """CPU and callgrind sections of the Report."""

    # Where the time goes -------------------------------------------------------------
    def costs(self):
        cmax = max(self.s.a.conns)
        self.w("## Where the time and memory go", "",
               f"Server CPU time and context switches per request, read "
               f"from /proc around each wrk run at c={cmax} (the whole "
               "process tree for Ray):", "",
               "| scenario | server | CPU µs per request | of which user | "
               "of which kernel | context switches per request |",
               "|---|---|---|---|---|---|")
        for scen in self.r["http"]:
            for key, v in self.r["http"][scen].items():
                c = v.get("cost")
                if c:
                    user = c.get("user_us", 0.0)
                    self.w(f"| {scen} | {v['label']} | {c['cpu_us']:.1f} | "
                           f"{user:.1f} | {c['cpu_us'] - user:.1f} | "
                           f"{c['switches']:.2f} |")
        self.w("")
        cg = self.r["callgrind"]
        if cg:
            keys = list(cg)
            names = [n for n, _ in COMPONENTS] + ["other"]
            self.w("Instructions per no-op request by component "
                   "(callgrind, self cost, one connection, "
                   f"{cg[keys[0]]['requests']} requests counted after "
                   "warm-up, 1 system thread):", "",
                   "| component | " + " | ".join(keys) + " |",
                   "|---|" + "---|" * len(keys))
            for n in names + ["total"]:
                cells = []
                for k in keys:
                    comp = cg[k]["components"]
                    x = sum(comp.values()) if n == "total" else comp.get(n, 0)
                    cells.append(fmt_int(x / cg[k]["requests"]))
                label = f"**{n}**" if n == "total" else n
                self.w(f"| {label} | " + " | ".join(cells) + " |")
            self.w("")
            k = "actorserve_inline"
            if k in cg and cg[k].get("top"):
                self.w(f"The costliest functions of {k} (self instructions "
                       "per request):", "",
                       "| function | instructions per request |",
                       "|---|---|")
                for name, x in cg[k]["top"]:
                    self.w(f"| `{name}` | {fmt_int(x / cg[k]['requests'])} |")
                self.w("")
        self.w(*self.explanation(), "")
        self.spin()

    def spin(self):
        sp = self.r.get("spin")
        if not sp:
            return
        cmax = max(self.s.a.conns)
        self.w("### Idle spin", "",
               "A sleeping thread on this virtual machine takes tens of "
               "microseconds to wake, and an HTTP request crosses threads at "
               "least twice, so at low load the wake-ups, not the work, set "
               "the latency. `--idle-spin-us` (`serve_options::idle_spin`, "
               "default 50) keeps an idle system-plane worker or replica "
               "thread polling that long before it sleeps. The no-op server with each setting "
               "(wrk -t1, same run):", "",
               f"| mode, spin | p50 at c=1 (µs) | req/s at c=1 | "
               f"req/s at c={cmax} | CPU µs/request at c=1 |",
               "|---|---|---|---|---|")
        for mode, runs in sp.items():
            for spin, row in runs.items():
                one, many = row.get(1), row.get(cmax)
                if not one or not many:
                    continue
                self.w(f"| {mode}, {spin} µs | {one['p50_us']:.0f} | "
                       f"{fmt_int(one['rps'])} | {fmt_int(many['rps'])} | "
                       f"{one['cpu_us']:.1f} |")
        self.w("", "A spin shorter than the gap between requests is the "
               "worst of both: the threads burn CPU and still park. "
               "Spinning buys latency with CPU; on this 2-core machine "
               "the load generator competes for the same cores, which is the "
               "worst case for it. On a machine with idle cores a longer "
               "spin costs nothing but the spinning core.", "")

    def explanation(self):
        out = []
        cost = {k: v.get("cost") for k, v in
                self.r["http"].get("noop", {}).items()}
        b, i, n = (cost.get(k) for k in ("bare", "actorserve_isolated",
                                         "actorserve_inline"))
        if b and i and n:
            out.append(
                f"- On 2 cores with wrk on one of them, throughput follows "
                f"server CPU per request: {b['cpu_us']:.1f} µs for bare "
                f"RESTinio, {n['cpu_us']:.1f} µs inline and "
                f"{i['cpu_us']:.1f} µs isolated. The actor path adds "
                f"{n['cpu_us'] - b['cpu_us']:.1f} µs, of which "
                f"{n.get('user_us', 0) - b.get('user_us', 0):.1f} µs in user "
                "space (the instructions below) and the rest in the kernel "
                "(futex and eventfd wake-ups between the I/O thread and the "
                "system plane). Isolated mode adds "
                f"{i['cpu_us'] - n['cpu_us']:.1f} µs more and "
                f"{i['switches'] - n['switches']:.2f} context switches per "
                "request: the hand-off to the replica's own thread and "
                "back.")
        bare1 = self.lat("noop", "bare", 1, "p50_us")
        iso1 = self.lat("noop", "actorserve_isolated", 1, "p50_us")
        inl1 = self.lat("noop", "actorserve_inline", 1, "p50_us")
        if bare1 and iso1 and inl1:
            out.append(
                f"- Latency at c=1: bare RESTinio's p50 is {bare1:.0f} µs, "
                "most of it two wake-ups of sleeping threads (wrk's and the "
                "server's) on this virtual machine. The spin table below "
                "shows how much of it is wake-ups. Inline mode adds "
                f"{inl1 - bare1:+.0f} µs and isolated mode "
                f"{iso1 - bare1:+.0f} µs. Inline adds one thread to the "
                "path (the system-plane worker); isolated adds the replica's "
                "thread as well. Both spin for `--idle-spin-us` after each "
                "job, so at c=1 they are often still awake when the next "
                "request arrives.")
        cg = self.r["callgrind"]
        if "bare" in cg and "actorserve_inline" in cg:
            per = {k: {c: x / v["requests"] for c, x in
                       v["components"].items()} for k, v in cg.items()}
            delta = {c: per["actorserve_inline"].get(c, 0) -
                     per["bare"].get(c, 0) for c in per["bare"]}
            top = sorted(delta.items(), key=lambda kv: -kv[1])[:3]
            out.append(
                "- The instruction counts say where the added CPU goes. "
                "Inline mode runs "
                f"{sum(per['actorserve_inline'].values()):,.0f} instructions "
                f"per request against {sum(per['bare'].values()):,.0f} for "
                "bare RESTinio; the largest increases are " +
                ", ".join(f"{c} (+{x:,.0f})" for c, x in top) + ". "
                "Per request the path carries one mailbox message each way "
                "(I/O thread → user actor, which the I/O thread admits at "
                "the replica's gate itself, and the answer back to the I/O "
                "thread), each a heap-allocated mailbox element and "
                "message; the copied `http_request` strings; and a "
                "hash-map entry per call in the caller's routing state.")
        h = self.r["handle"]
        iso = h.get("handle/caller_isolated/callee_isolated")
        inl = h.get("handle/caller_inline/callee_inline")
        bare = h.get("caf/bare_actors")
        if iso and inl and bare:
            out.append(
                f"- In process, the round trip costs {inl['p50_us']:.1f} µs "
                f"(median) when both deployments run inline, against "
                f"{bare['p50_us']:.1f} µs between two bare CAF actors: the "
                "caller routes for itself and admits the call at the "
                "callee's gate. With both deployments isolated it is "
                f"{iso['p50_us']:.1f} µs (p99 {iso['p99_us']:.0f} µs): "
                "each call crosses from the caller's replica thread to the "
                "callee's replica thread and back. "
                "While those threads spin (`--idle-spin-us`), a crossing is "
                "a queue hand-off; a thread that has parked costs a wake-up "
                "of tens of microseconds, which is where the tail comes "
                "from. Inline mode is the choice for short, non-blocking "
                "handlers.")
        return out
