"""The scaling scenario of bench/run: requests per second against threads.

Bare RESTinio with T I/O threads against actorserve with T I/O threads, T
system-plane workers and T isolated replicas, for T = 1, 2, 4, ... up to
the cores the server gets. On a machine with 4 cores or more the server is
pinned to the first half of the cores and wrk (with one thread per core of
its half) to the second half, so they do not fight; on a smaller machine
they share every core and the figures show overhead, not scaling.
"""
import os
import tempfile


def plan(cores):
    """Which cores the server and the load get, and the thread counts."""
    if cores >= 4:
        half = cores // 2
        server = ["taskset", "-c", f"0-{half - 1}"]
        load = ["taskset", "-c", f"{half}-{cores - 1}"]
        return server, load, cores - half, half
    return [], [], 1, cores


def measure(suite, h):
    """Runs the scenario; `h` is the bench/runner package (its helpers)."""
    a = suite.a
    res = suite.results.setdefault("scaling", {})
    cores = os.cpu_count() or 1
    server_pin, load_pin, wrk_threads, budget = plan(cores)
    threads = [t for t in (1, 2, 4, 8, 16) if t <= budget]
    conns = 256 if server_pin else 64
    res["setup"] = {"cores": cores, "pinned": bool(server_pin),
                    "wrk_threads": wrk_threads, "conns": conns}
    for app, post_bytes in (("noop", 0), ("echo", 10240)):
        for t in threads:
            servers = (
                ("bare", server_pin + [suite.bin("restinio_hello"), "{port}",
                                       str(t)]),
                ("actorserve", server_pin + [
                    suite.bin("bench_server"), "--app", app, "--mode",
                    "isolated", "--port", "{port}", "--http-threads", str(t),
                    "--threads", str(t), "--replicas", str(t)]))
            for key, cmd in servers:
                target = h.start_local(suite.tmp, f"scale_{app}_{key}_{t}",
                                       key, cmd, "/", post_bytes > 0)
                try:
                    h.wrk(target.url, 8, 1, post_bytes)  # warm-up
                    best = None
                    for _ in range(a.rounds):
                        w = h.wrk(target.url, conns, a.duration, post_bytes,
                                  threads=wrk_threads, prefix=load_pin)
                        if w and (best is None or w["rps"] > best):
                            best = w["rps"]
                    res.setdefault(app, {}).setdefault(key, {})[t] = best
                    h.log(f"scaling {app} {key} T={t}: "
                          f"{best or 0:.0f} req/s")
                finally:
                    h.stop(target.proc)


def plot(report, h):
    """Draws docs/img/scaling.png; returns its path relative to docs/."""
    res = report.r.get("scaling")
    if not res or not h.shutil.which("gnuplot"):
        return None
    d = tempfile.mkdtemp(prefix="plot-", dir=report.s.tmp)
    parts = []
    for app, title in (("noop", "no-op"), ("echo", "echo chain, 10 KB")):
        for key, label in (("bare", "bare RESTinio"),
                           ("actorserve", "actorserve")):
            path = os.path.join(d, f"{app}_{key}.dat")
            with open(path, "w") as f:
                for t, x in sorted(res.get(app, {}).get(key, {}).items()):
                    if x:
                        f.write(f"{t} {x}\n")
            parts.append(f"'{path}' using 1:2 with linespoints lw 2 "
                         f"title '{label}, {title}'")
    out = os.path.join(report.img_dir, "scaling.png")
    script = ["set terminal pngcairo size 800,480 font ',10'",
              f"set output '{out}'", "set logscale xy 2", "set grid",
              "set xlabel 'threads (I/O = system workers = replicas)'",
              "set ylabel 'requests per second'", "set key below",
              "set format y '%.0s%c'", "plot " + ", ".join(parts)]
    gp = os.path.join(d, "scaling.gp")
    with open(gp, "w") as f:
        f.write("\n".join(script) + "\n")
    r = h.run(["gnuplot", gp], 60)
    return None if r.returncode != 0 else "img/scaling.png"


def write(report, h):
    """The scaling section of docs/benchmarks.md."""
    res = report.r.get("scaling")
    if not res:
        return
    s = res["setup"]
    where = (f"server pinned to cores 0–{s['cores'] // 2 - 1}, wrk "
             f"(-t{s['wrk_threads']} -c{s['conns']}) to the other "
             f"{s['cores'] - s['cores'] // 2}"
             if s["pinned"] else
             f"server and wrk (-t{s['wrk_threads']} -c{s['conns']}) share "
             f"all {s['cores']} cores, so this shows overhead, not scaling")
    report.w("## 7. Scaling with threads", "",
             "Bare RESTinio with T I/O threads against actorserve with T "
             "I/O threads, T system-plane workers and T isolated replicas "
             f"(`bench/scaling.py`); {where}. Best of "
             f"{report.s.a.rounds} run(s).", "")
    path = plot(report, h)
    if path:
        report.w(f"![requests per second against threads]({path})", "")
    report.w("| scenario | T | bare RESTinio | actorserve | actorserve / "
             "bare | actorserve × per doubling |", "|---|---|---|---|---|---|")
    for app in ("noop", "echo"):
        bare = res.get(app, {}).get("bare", {})
        mine = res.get(app, {}).get("actorserve", {})
        prev = None
        for t in sorted(set(bare) | set(mine)):
            b, m = bare.get(t), mine.get(t)
            ratio = f"{m / b:.0%}" if b and m else "–"
            step = f"{m / prev:.2f}×" if m and prev else "–"
            report.w(f"| {app} | {t} | {h.fmt_int(b)} | {h.fmt_int(m)} | "
                     f"{ratio} | {step} |")
            prev = m
    report.w("")
