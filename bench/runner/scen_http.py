"""Scenarios over HTTP: no-op, echo chain and /classify against bare RESTinio
and Ray Serve, closed and open loop, and the idle spin."""
import os
import re
import subprocess
import time

from .config import BUILD
from .load import loadgen, wrk
from .procs import log, stop, tail, usage, wait_line
from .servers import (Target, ray_direct_port, start_local, start_ray,
                      stop_ray)


def make_test_pki(d, ca, key, cert):
    """A CA and a certificate it signs for 127.0.0.1, with the openssl
    tool (ECDSA P-256, as a current web server would use)."""
    ca_key, csr, ext = (os.path.join(d, n) for n in
                        ("ca.key", "server.csr", "ext"))
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for cmd in (["req", "-x509", *ec, "-keyout", ca_key, "-out", ca,
                 "-days", "2", "-subj", "/CN=bench CA"],
                ["req", *ec, "-keyout", key, "-out", csr, "-subj",
                 "/CN=127.0.0.1"],
                ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                 "-CAcreateserial", "-out", cert, "-days", "2", "-extfile",
                 ext]):
        subprocess.run(["openssl", *cmd], check=True, timeout=30,
                       capture_output=True)


class HttpScenarios:
    """HTTP scenarios of the Suite."""

    # Closed loop and open loop for one HTTP scenario over several targets.
    def http_scenario(self, name, targets, post_bytes, rates, rounds,
                      body=None):
        res = self.results["http"].setdefault(name, {})
        for t in targets:
            # A rerun replaces what a merged run (--merge) had measured for
            # these targets, rather than adding its rounds to them.
            res[t.key] = {"label": t.label, "wrk": {}, "open": {},
                          "cost": None}
            wrk(t.url, 8, 1, post_bytes, body=body)  # warm-up
        for r in range(rounds):
            for c in self.a.conns:
                for t in targets:
                    cpu0, sw0, user0 = usage(t.proc.pid)
                    w = wrk(t.url, c, self.a.duration, post_bytes,
                            body=body)
                    cpu1, sw1, user1 = usage(t.proc.pid)
                    if w is None:
                        log(f"{name} {t.key} c={c}: wrk failed")
                        continue
                    log(f"{name} {t.key} c={c} round {r + 1}: "
                        f"{w['rps']:.0f} req/s p50 {w['p50_us']:.0f} us")
                    res[t.key]["wrk"].setdefault(c, []).append(w)
                    if c == max(self.a.conns) and w["requests"] > 0:
                        cost = {"cpu_us": (cpu1 - cpu0) * 1e6 / w["requests"],
                                "user_us": (user1 - user0) * 1e6 /
                                w["requests"],
                                "switches": (sw1 - sw0) / w["requests"]}
                        res[t.key]["cost"] = cost
        for t in targets:
            best = max((x["rps"] for runs in res[t.key]["wrk"].values()
                        for x in runs), default=0)
            for rate, conns in rates:
                key = f"{rate}@{conns}"
                if rate > 0.9 * best:
                    res[t.key]["open"][key] = {"skipped": best}
                    continue
                g = loadgen(t.url, rate, conns, self.a.open_seconds,
                            post_bytes)
                res[t.key]["open"][key] = g
                if g:
                    log(f"{name} {t.key} open {rate}/s x{conns}: "
                        f"p50 {g['p50_us']:.0f} p99 {g['p99_us']:.0f} us")

    def local_http(self):
        rounds = self.a.rounds
        for name, app, path, post_bytes, rates in (
                ("noop", "noop", "/", 0, self.a.noop_rates),
                ("echo", "echo", "/", 10240, self.a.echo_rates)):
            targets = [start_local(self.tmp, "bare", "bare RESTinio (ceiling)",
                                   [self.bin("restinio_hello"), "{port}", "1"],
                                   path, post_bytes > 0)]
            for mode in ("isolated", "inline"):
                targets.append(start_local(
                    self.tmp, f"actorserve_{mode}", f"actorserve, {mode}",
                    [self.bin("bench_server"), "--app", app, "--mode", mode,
                     "--port", "{port}", "--threads", str(self.a.threads),
                     "--http-threads", "1"],
                    path, post_bytes > 0))
            try:
                self.http_scenario(name, targets, post_bytes, rates, rounds)
            finally:
                for t in targets:
                    stop(t.proc)
        # The demo's POST /classify: JSON in, a handle call to a second
        # deployment (Tokenizer, 2 replicas), JSON out; every deployment
        # isolated, as the demo runs them.
        body = '{"text": "I love this movie"}'
        targets = [
            start_local(self.tmp, "bare", "bare RESTinio (ceiling)",
                        [self.bin("restinio_hello"), "{port}", "1"], "/",
                        body.encode()),
            start_local(self.tmp, "actorserve_isolated",
                        "actorserve demo, POST /classify",
                        [os.path.join(BUILD, "apps", "actorserve-demo"),
                         "--port", "{port}", "--threads",
                         str(self.a.threads), "--http-threads", "1"],
                        "/classify", body.encode())]
        try:
            self.http_scenario("classify", targets, 0, [], rounds, body=body)
        finally:
            for t in targets:
                stop(t.proc)

    def https(self):
        """The no-op over HTTPS: actorserve with --tls-cert against bare
        RESTinio with the same TLS settings, certificates made here."""
        pki = os.path.join(self.tmp, "pki")
        os.makedirs(pki, exist_ok=True)
        ca, key, cert = (os.path.join(pki, n) for n in
                         ("ca.pem", "server.key", "server.pem"))
        make_test_pki(pki, ca, key, cert)
        targets = [start_local(
            self.tmp, "bare", "bare RESTinio with TLS (ceiling)",
            [self.bin("restinio_hello"), "{port}", "1", cert, key], "/",
            False, ca=ca)]
        try:
            targets.append(start_local(
                self.tmp, "actorserve_isolated", "actorserve, isolated, TLS",
                [self.bin("bench_server"), "--app", "noop", "--mode",
                 "isolated", "--port", "{port}", "--threads",
                 str(self.a.threads), "--http-threads", "1", "--tls-cert",
                 cert, "--tls-key", key], "/", False, ca=ca))
            self.http_scenario("noop_tls", targets, 0, [], self.a.rounds)
        finally:
            for t in targets:
                stop(t.proc)

    def ray_http(self):
        for mode in ("default", "optimized"):
            for name, app, ingress, post_bytes, rates in (
                    ("noop", "noop", "Noop", 0, self.a.noop_rates),
                    ("echo", "echo_chain", "Ingress", 10240,
                     self.a.echo_rates)):
                proc, path, t0 = start_ray(self.tmp, app, mode)
                try:
                    line = wait_line(path, r"^URL ", proc, 300)
                    if line is None:
                        raise RuntimeError(tail(path))
                    ready = time.monotonic() - t0
                    url = line.split()[1]
                    targets = [Target(f"ray_{mode}", f"Ray Serve, {mode}",
                                      proc, url)]
                    port = ray_direct_port(proc, ingress) \
                        if mode == "optimized" else None
                    if port:
                        targets[0].label += " (proxy port)"
                        targets.append(Target(
                            "ray_optimized_direct",
                            "Ray Serve, optimized (direct port)", proc,
                            re.sub(r":\d+/", f":{port}/", url)))
                    self.results["ray"].setdefault("ready_s", {})[
                        f"{app}/{mode}"] = ready
                    self.http_scenario(name, targets, post_bytes, rates, 1)
                finally:
                    stop_ray(proc)

    def idle_spin(self):
        """The system plane's idle spin against latency and throughput."""
        res = self.results.setdefault("spin", {})
        for mode in ("inline", "isolated"):
            for spin in self.a.spins:
                t = start_local(
                    self.tmp, f"spin_{mode}_{spin}", f"{mode}, {spin} µs",
                    [self.bin("bench_server"), "--mode", mode, "--port",
                     "{port}", "--threads", str(self.a.threads),
                     "--idle-spin-us", str(spin)], "/", False)
                try:
                    row = {}
                    for c in (1, max(self.a.conns)):
                        cpu0 = usage(t.proc.pid)[0]
                        w = wrk(t.url, c, self.a.duration)
                        cpu1 = usage(t.proc.pid)[0]
                        if w:
                            w["cpu_us"] = (cpu1 - cpu0) * 1e6 / max(
                                w["requests"], 1)
                        row[c] = w
                    res.setdefault(mode, {})[spin] = row
                    log(f"spin {mode} {spin}: " + ", ".join(
                        f"c={c} {w['rps']:.0f}/s p50 {w['p50_us']:.0f}"
                        for c, w in row.items() if w))
                finally:
                    stop(t.proc)
