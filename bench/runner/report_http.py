"""The page's HTTP sections: scenario tables (closed and open loop), the
throughput plot and the notes on the Ray Serve peer."""
import os
import shutil
import tempfile

from .config import RAY_VERSION
from .fmt import fmt_int, fmt_us
from .procs import log, run


class HttpSections:
    """HTTP sections of the Report."""

    # Scenarios 1 and 2 ----------------------------------------------------------
    def http(self, scen, title, blurb):
        if scen not in self.r["http"]:
            return
        conns = self.s.a.conns
        self.w(f"## {title}", "", blurb, "",
               "Closed loop (wrk -t1, one 5 s run per cell"
               f"{', mean of %d rounds for local servers' % self.s.a.rounds if self.s.a.rounds > 1 else ''}"
               "): requests per second, and the ratio to bare RESTinio.", "",
               "| server | " + " | ".join(f"c={c}" for c in conns) +
               " | p50 / p99 at c=1 (µs) |",
               "|---|" + "---|" * (len(conns) + 1))
        for key in self.keys(scen):
            cells = []
            for c in conns:
                x, b = self.rps(scen, key, c), self.rps(scen, "bare", c)
                cell = fmt_int(x)
                if key != "bare" and x and b:
                    cell += f" ({x / b:.0%})"
                cells.append(cell)
            p50, p99 = (self.lat(scen, key, 1, f) for f in ("p50_us",
                                                            "p99_us"))
            self.w(f"| {self.r['http'][scen][key]['label']} | " +
                   " | ".join(cells) + f" | {fmt_us(p50)} / {fmt_us(p99)} |")
        self.w("")
        self.open_loop(scen)
        failed = [(k, c) for k in self.keys(scen) for c in conns
                  for x in self.r["http"][scen][k]["wrk"].get(c, [])
                  if x["failed"]]
        if failed:
            self.w("Runs with failed requests (socket errors or non-2xx): " +
                   ", ".join(f"{k} at c={c}" for k, c in failed) + ".", "")

    def open_loop(self, scen):
        if scen not in ("noop", "echo"):
            return
        rates = self.s.a.noop_rates if scen == "noop" else self.s.a.echo_rates
        self.w("Open loop (tools/loadgen, fixed rate, "
               f"{self.s.a.open_seconds} s after 1 s of warm-up; latency from "
               "each request's scheduled send time): p50 / p99 / p99.9 in µs.",
               "",
               "| server | " + " | ".join(f"{r:,}/s, {c} conn." for r, c in
                                         rates) + " |",
               "|---|" + "---|" * len(rates))
        for key in self.keys(scen):
            cells = []
            for rate, c in rates:
                g = self.r["http"][scen][key]["open"].get(f"{rate}@{c}")
                if g is None:
                    cells.append("failed")
                elif "skipped" in g:
                    cells.append(f"over capacity ({fmt_int(g['skipped'])}/s)")
                else:
                    bad = g["errors"] + g["timeouts"] + g["non2xx"]
                    cell = (f"{fmt_us(g['p50_us'])} / {fmt_us(g['p99_us'])}"
                            f" / {fmt_us(g['p999_us'])}")
                    if g["achieved_rps"] < 0.97 * rate or bad:
                        cell += (f" (achieved {fmt_int(g['achieved_rps'])}/s"
                                 f", {bad} failed)")
                    cells.append(cell)
            self.w(f"| {self.r['http'][scen][key]['label']} | " +
                   " | ".join(cells) + " |")
        self.w("")

    def plots(self):
        if not shutil.which("gnuplot") or not self.r["http"]:
            return []
        os.makedirs(self.img_dir, exist_ok=True)
        d = tempfile.mkdtemp(prefix="plot-", dir=self.s.tmp)
        conns = self.s.a.conns
        series = []
        for scen in ("noop", "echo"):
            for j, key in enumerate(self.keys(scen)):
                path = os.path.join(d, f"{scen}_{key}.dat")
                with open(path, "w") as f:
                    for c in conns:
                        x = self.rps(scen, key, c)
                        if x:
                            f.write(f"{c} {x}\n")
                series.append((scen, key, path))
        script = [
            "set terminal pngcairo size 1100,520 font ',10'",
            f"set output '{os.path.join(self.img_dir, 'throughput.png')}'",
            "set multiplot layout 1,2",
            "set logscale xy", "set grid",
            "set xlabel 'concurrent connections (wrk -t1)'",
            "set ylabel 'requests per second'",
            "set key below", "set format y '%.0s%c'",
            f"set xtics ({', '.join(str(c) for c in conns)})",
        ]
        for scen, title in (("noop", "no-op, 1 replica"),
                            ("echo", "echo chain, 10 KB body")):
            parts = [f"'{p}' using 1:2 with linespoints lw 2 title "
                     f"'{self.r['http'][scen][k]['label']}'"
                     for s2, k, p in series if s2 == scen]
            if parts:
                script += [f"set title '{title}'", "plot " + ", ".join(parts)]
        script.append("unset multiplot")
        gp = os.path.join(d, "plot.gp")
        with open(gp, "w") as f:
            f.write("\n".join(script) + "\n")
        r = run(["gnuplot", gp], 60)
        if r.returncode != 0:
            log("gnuplot failed:", r.stderr)
            return []
        return ["img/throughput.png"]

    def ray_notes(self):
        self.w("## Ray Serve in this run", "")
        if self.s.ray_error:
            self.w(f"Ray Serve did not run: {self.s.ray_error}", "")
            return
        ready = self.r["ray"].get("ready_s", {})
        self.w(f"Ray Serve {RAY_VERSION} from PyPI in bench/venv, started by "
               "`bench/ray/serve_run.py` with `ray.init(num_cpus=2)`, no "
               "dashboard, token authentication off and private temporary "
               "files. Its apps are in bench/ray/. Start-up to the first "
               "answered request: " + ", ".join(
                   f"{k} {v:.1f} s" for k, v in ready.items()) + ".", "",
               "- *default*: requests enter through Ray's HTTP proxy actor.",
               "- *optimized*: `RAY_SERVE_THROUGHPUT_OPTIMIZED=1`. The "
               "configured port still goes through the proxy; the ingress "
               "replica's own direct port (30000 and up) is the fast path, "
               "and the goal is measured against it.", "")
