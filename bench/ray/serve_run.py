#!/usr/bin/env python3
"""Start a local Ray + Serve, deploy <app> on 127.0.0.1:<port>, print READY,
stay up until SIGTERM/SIGINT, then shut Serve and Ray down.

usage: serve_run.py {noop|echo_chain|handle|stream} PORT [--ready-timeout S]
                    [--roundtrip-seconds S]
Prints (stdout, one per line):
  TIMING ray_init_s=..  serve_start_s=..  deploy_s=..  first_ok_s=..  total_s=..
  URL http://127.0.0.1:PORT/<prefix>
  READY
The handle app is not served over HTTP: it runs its round-trip loop for
--roundtrip-seconds, prints one "ROUNDTRIP {json}" line and exits.
"""
import argparse
import atexit
import importlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home
# Ray >= 2.5x enables token auth by default and writes ~/.ray/auth_token.
# Local loopback benchmark: disable it so nothing is written outside TMP.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
# With RAY_SERVE_THROUGHPUT_OPTIMIZED=1 (direct ingress) the ingress replica
# drains >= 30 s on shutdown; shorten it (affects shutdown only).
os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "2")

# Ray session files (logs, sockets): $RAY_TMPDIR if set, else a private dir
# under /tmp that is removed on exit. Keep it short: unix socket paths inside
# it must stay < 108 bytes. Must be decided before `import ray` because Serve
# reads its env constants at import time.
OWN_TMP = "RAY_TMPDIR" not in os.environ
TMP_ROOT = tempfile.mkdtemp(prefix="rayb-") if OWN_TMP else os.environ["RAY_TMPDIR"]
if OWN_TMP:
    atexit.register(shutil.rmtree, TMP_ROOT, True)
if os.environ.get("RAY_SERVE_ENABLE_HA_PROXY") == "1":
    # Keep HAProxy's config/socket/state files out of the shared default
    # /tmp/haproxy-serve. Serve appends a 56-char node-id dir and HAProxy
    # rejects unix socket paths > 97 chars, so this base must be <= ~27 chars.
    _hp = os.environ.get("RAY_BENCH_HAPROXY_DIR") or tempfile.mkdtemp(prefix="rhp")
    if "RAY_BENCH_HAPROXY_DIR" not in os.environ:
        atexit.register(shutil.rmtree, _hp, True)
    if len(_hp) > 27:
        print(f"WARNING: HAProxy dir {_hp!r} too long for its socket paths", flush=True)
    os.makedirs(_hp, exist_ok=True)
    os.environ.setdefault("RAY_SERVE_HAPROXY_CONFIG_FILE_LOC", os.path.join(_hp, "haproxy.cfg"))
    os.environ.setdefault("RAY_SERVE_HAPROXY_SOCKET_PATH", os.path.join(_hp, "admin.sock"))
    os.environ.setdefault("RAY_SERVE_HAPROXY_SERVER_STATE_BASE", _hp)
    os.environ.setdefault("RAY_SERVE_HAPROXY_SERVER_STATE_FILE", os.path.join(_hp, "server-state"))
    os.environ.setdefault("RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH", os.path.join(_hp, "metrics.sock"))

import ray  # noqa: E402
from ray import serve  # noqa: E402

BODY_10K = b"x" * 10240


def probe(url: str, post: bool) -> bool:
    req = urllib.request.Request(
        url,
        data=BODY_10K if post else None,
        method="POST" if post else "GET",
        headers={"Content-Type": "application/octet-stream"},
    )
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            data = r.read()
            return r.status == 200 and (data == BODY_10K if post else data == b"ok")
    except Exception:
        return False


def roundtrip(caller, seconds: float, stop: threading.Event) -> None:
    """Batches of sequential handle calls made inside the Caller deployment
    (each sample is one call, in ns); prints the summary as JSON."""
    caller.run.remote(50).result()  # warm-up
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stop.is_set():
        samples += caller.run.remote(200).result()
    samples.sort()
    n = len(samples)
    pct = lambda q: samples[min(int(q * n), n - 1)] / 1000.0
    print("ROUNDTRIP " + json.dumps({
        "n": n, "mean_us": sum(samples) / n / 1000.0,
        "p50_us": pct(0.5), "p99_us": pct(0.99)}), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("app", choices=["noop", "echo_chain", "handle", "stream"])
    ap.add_argument("port", type=int)
    ap.add_argument("--ready-timeout", type=float, default=120.0)
    ap.add_argument("--roundtrip-seconds", type=float, default=5.0)
    args = ap.parse_args()

    mod = importlib.import_module(f"{args.app}_app")
    prefix = mod.ROUTE_PREFIX
    url = f"http://127.0.0.1:{args.port}{prefix}"
    post = args.app == "echo_chain"

    stop = threading.Event()
    t0 = time.monotonic()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=os.path.join(TMP_ROOT, "ray"),
    )
    t1 = time.monotonic()
    # Install handlers *after* ray.init: Ray's core worker installs its own
    # SIGTERM handler that would otherwise kill the driver without cleanup.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": args.port})
        t2 = time.monotonic()
        ingress = serve.run(mod.app, name=args.app, route_prefix=prefix, blocking=False)
        t3 = time.monotonic()
        if prefix is None:
            print(f"TIMING ray_init_s={t1-t0:.2f} serve_start_s={t2-t1:.2f} "
                  f"deploy_s={t3-t2:.2f} total_s={t3-t0:.2f}", flush=True)
            roundtrip(ingress, args.roundtrip_seconds, stop)
            return 0
        deadline = t3 + args.ready_timeout
        while not probe(url, post):
            if stop.is_set() or time.monotonic() > deadline:
                print(f"NOT READY: {url} did not answer", flush=True)
                return 1
            time.sleep(0.1)
        t4 = time.monotonic()
        print(
            f"TIMING ray_init_s={t1-t0:.2f} serve_start_s={t2-t1:.2f} "
            f"deploy_s={t3-t2:.2f} first_ok_s={t4-t3:.2f} total_s={t4-t0:.2f}",
            flush=True,
        )
        print(f"URL {url}", flush=True)
        print("READY", flush=True)
        while not stop.wait(0.5):
            pass
        print("STOPPING", flush=True)
        return 0
    finally:
        ts = time.monotonic()
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
        print(f"STOPPED shutdown_s={time.monotonic()-ts:.2f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
