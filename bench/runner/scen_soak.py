"""The soak (`bench/run --only soak`, an hour; ten minutes in the full run):
a mixed open-loop load on one demo process, its RSS sampled every 10 s;
after the warm-up the RSS must grow less than 1 %. Every request is still
accounted for, and no slot may be left held."""
import os
import statistics
import time

from .chaos_lib import Demo, Load, account, scheduled, settle
from .config import BUILD, ROOT
from .procs import log, memory

PERIOD_S = 10

# (name, path, rate, loadgen arguments): every kind of work the demo does.
MIX = [
    ("classify", "/classify", 100,
     dict(method="POST", body='{"text": "I love this"}')),
    ("pipeline", "/pipeline", 20,
     dict(method="POST", body='{"text": "  Hello World  "}')),
    ("stream", "/stream", 20,
     dict(method="POST", body='{"prompt": "a b c", "n": 5, "delay_ms": 2}',
          cut=0.2, cut_max_ms=20, conns=16)),
    ("blocking", "/blocking?ms=5", 10, {}),
    ("batch", "/batch", 50, dict(method="POST", body='{"x": 2}')),
    ("multi", "/multi", 20,
     dict(method="POST", body="{}", vary=4,
          headers=["serve_multiplexed_model_id: m{n}"])),
    ("flaky", "/flaky", 20, dict(method="POST", body="{}")),
]


def svg_plot(samples, warmup_s, path):
    """A plain SVG line of RSS (MiB) against minutes, the warm-up shaded."""
    w, h, pad = 640, 280, 48
    ts = [t for t, _ in samples]
    ms = [m for _, m in samples]
    t1 = max(ts[-1], 1e-9)
    lo, hi = min(ms) * 0.98, max(ms) * 1.02

    def x(t):
        return pad + (w - 2 * pad) * t / t1

    def y(m):
        return h - pad - (h - 2 * pad) * (m - lo) / max(hi - lo, 1e-9)
    pts = " ".join(f"{x(t):.1f},{y(m):.1f}" for t, m in samples)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" '
           f'height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<rect x="{pad}" y="{pad}" width="{x(warmup_s) - pad:.1f}" '
           f'height="{h - 2 * pad}" fill="#eee"/>',
           f'<text x="{pad + 4}" y="{pad + 14}">warm-up</text>',
           f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" '
           f'points="{pts}"/>',
           f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" '
           f'stroke="black"/>',
           f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" '
           f'stroke="black"/>',
           f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">minutes '
           f'(0 to {t1 / 60:.1f})</text>',
           f'<text x="{pad - 4}" y="{y(hi) + 4:.1f}" text-anchor="end">'
           f'{hi:.1f}</text>',
           f'<text x="{pad - 4}" y="{y(lo):.1f}" text-anchor="end">'
           f'{lo:.1f}</text>',
           f'<text x="12" y="{h / 2}" transform="rotate(-90 12 {h / 2})" '
           f'text-anchor="middle">RSS (MiB)</text>', '</svg>']
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def growth(samples, warmup_s):
    """(baseline, end, growth %, window): the medians of the first and the
    last fifth of the samples after the warm-up."""
    after = [m for t, m in samples if t >= warmup_s]
    k = max(1, len(after) // 5)
    base, end = statistics.median(after[:k]), statistics.median(after[-k:])
    return base, end, (end - base) / base * 100, k


def soak(build, tmp, minutes, plot_path):
    """Runs the soak; its figures as a dict."""
    secs = minutes * 60
    warmup_s = max(60, round(secs / 10))
    demo = Demo(build, tmp, "soak")
    loads = []
    try:
        for name, path, rate, kw in MIX:
            loads.append((Load(build, tmp, f"soak_{name}", demo.port, path,
                               rate, secs, log=False, **kw),
                          scheduled(rate, secs)))
        t0, samples = time.monotonic(), []
        while time.monotonic() - t0 < secs:
            samples.append((time.monotonic() - t0,
                            memory(demo.head.proc.pid)[1] / 1024))
            time.sleep(max(0.0, t0 + len(samples) * PERIOD_S -
                           time.monotonic()))
        results = [(ld.result(), exp) for ld, exp in loads]
        leaked, _ = settle(demo)
    finally:
        demo.stop()
    acct = account(results)
    acct.pop("failures")
    base, end, pct, k = growth(samples, warmup_s)
    svg_plot(samples, warmup_s, plot_path)
    return {"minutes": minutes, "period_s": PERIOD_S, "warmup_s": warmup_s,
            "loads": [f"{p} {r}/s" for _, p, r, _ in MIX],
            "samples": samples, "base_mib": base, "end_mib": end,
            "growth_pct": pct, "window": k,
            "max_mib": max(m for _, m in samples), "leaked": leaked,
            "plot": plot_path, **acct}


class SoakScenarios:
    """The `soak` step of bench/run."""

    def soak(self):
        a = self.a
        minutes = a.soak_minutes
        plot = os.path.join(ROOT, "docs", "img", "soak_rss.svg")
        log(f"soak: {minutes:g} minutes of mixed load")
        res = soak(getattr(a, "build", BUILD), self.tmp, minutes, plot)
        self.results["soak"] = res
        log(f"soak: RSS {res['base_mib']:.1f} -> {res['end_mib']:.1f} MiB "
            f"({res['growth_pct']:+.2f} %), exact {res['exact']}, leaked "
            f"{res['leaked']}")
        bad = []
        if res["growth_pct"] >= 1:
            bad.append(f"RSS grew {res['growth_pct']:.2f} %")
        if not res["exact"] or res["leaked"]:
            bad.append("accounting or leaked slots")
        if bad:
            raise RuntimeError("soak: " + "; ".join(bad))
