"""The servers under test: local ones on a free port, and the Ray Serve peer
(start, its direct-ingress port, stop)."""
import os
import re
import time

from .config import BENCH, VENV
from .procs import free_port, run, start, stop, tree, wait_http


class Target:
    """One server under test: a process and the URL of its scenario."""

    def __init__(self, key, label, proc, url):
        self.key, self.label, self.proc, self.url = key, label, proc, url


def start_local(tmp, key, label, cmd, path, post, ca=None):
    """`ca`: the server speaks HTTPS with a certificate this CA signed."""
    port = free_port()
    proc = start([c.replace("{port}", str(port)) for c in cmd],
                 os.path.join(tmp, key + ".log"))
    url = f"{'https' if ca else 'http'}://127.0.0.1:{port}{path}"
    if not wait_http(url, proc, post=post, ca=ca):
        raise RuntimeError(f"{label} did not come up ({tmp}/{key}.log)")
    return Target(key, label, proc, url)


def ray_env(mode, extra=None):
    env = dict(os.environ)
    env.pop("RAY_SERVE_THROUGHPUT_OPTIMIZED", None)
    if mode == "optimized":
        env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "1"
    env.update(extra or {})
    return env


def start_ray(tmp, app, mode, extra_env=None, args=()):
    """Starts bench/ray/serve_run.py; returns (process, log path, t0)."""
    port = free_port()
    path = os.path.join(tmp, f"ray_{app}_{mode}.log")
    t0 = time.monotonic()
    proc = start([os.path.join(VENV, "bin", "python"), "-u",
                  os.path.join(BENCH, "ray", "serve_run.py"), app, str(port),
                  *args], path, env=ray_env(mode, extra_env))
    return proc, path, t0


def ray_direct_port(proc, ingress):
    """The direct-ingress HTTP port (127.0.0.1:30000 and up) of a
    throughput-optimized Ray app's ingress replica, found by its process
    title ("ray::ServeReplica:app:Ingress")."""
    pids = set(tree(proc.pid))
    out = run(["ss", "-ltnpH"], timeout=10).stdout
    ports = {}
    for line in out.splitlines():
        m = re.search(r"127\.0\.0\.1:(300\d\d)\s.*pid=(\d+)", line)
        if m and int(m.group(2)) in pids:
            try:
                with open(f"/proc/{m.group(2)}/cmdline") as f:
                    title = f.read().replace("\0", " ")
            except OSError:
                title = ""
            ports[int(m.group(1))] = title
    for port, title in ports.items():
        if re.search(rf":{ingress}\b", title):
            return port
    return None


def stop_ray(proc):
    stop(proc, grace=90)
    left = run(["pgrep", "-f", "ray::|raylet|gcs_server"], timeout=10)
    if left.stdout.strip():
        run([os.path.join(VENV, "bin", "ray"), "stop", "--force"], timeout=60)
