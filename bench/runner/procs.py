"""Processes: starting and stopping them (every one is stopped when the run
ends), waiting for them, and reading their CPU, switches and memory."""
import atexit
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

from .config import TICK


_live = []  # every process group this run started


def log(*xs):
    print("bench:", *xs, flush=True)


def _stop_all():
    for p in list(_live):
        stop(p, grace=5)


def _on_signal(signum, _frame):
    _stop_all()
    sys.exit(128 + signum)


atexit.register(_stop_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def start(cmd, log_path, env=None):
    """Starts `cmd` in its own process group, output to `log_path`."""
    out = open(log_path, "w")
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                         env=env, start_new_session=True)
    out.close()
    _live.append(p)
    return p


def stop(p, grace=20):
    """SIGTERM, then SIGKILL after `grace` seconds, to the whole group."""
    if p not in _live:
        return
    _live.remove(p)
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            break
        try:
            p.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Children that outlived the leader (Ray's workers) share the group.
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(cmd, timeout, **kw):
    return subprocess.run(cmd, capture_output=True, text=True,
                          timeout=timeout, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, proc, timeout=60, post=False, ca=None):
    """Waits for a 200; `post`: POST b"x", or the given bytes; `ca`: the
    CA file an HTTPS server's certificate is checked against."""
    deadline = time.monotonic() + timeout
    data = post if isinstance(post, bytes) else (b"x" if post else None)
    tls = ssl.create_default_context(cafile=ca) if ca else None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            req = urllib.request.Request(url, data=data)
            with urllib.request.urlopen(req, timeout=1, context=tls) as r:
                if r.status == 200:
                    return True
        except Exception:
            time.sleep(0.05)
    return False


def wait_line(path, pattern, proc, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path) as f:
            for line in f:
                if re.search(pattern, line):
                    return line.strip()
        if proc.poll() is not None:
            return None
        time.sleep(0.02)
    return None


def tree(pid):
    """`pid` and all its descendants."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def usage(pid):
    """(CPU seconds, context switches, user seconds) of the process tree
    under `pid`."""
    cpu, switches, user = 0.0, 0, 0.0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICK
            user += int(fields[11]) / TICK
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/status") as f:
                    for line in f:
                        if "ctxt_switches" in line:
                            switches += int(line.split()[1])
        except OSError:
            pass
    return cpu, switches, user


def memory(pid):
    """(processes, RSS KiB, PSS KiB) of the tree under `pid`."""
    n = rss = pss = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                text = f.read()
        except OSError:
            continue
        n += 1
        rss += int(re.search(r"^Rss:\s+(\d+)", text, re.M).group(1))
        pss += int(re.search(r"^Pss:\s+(\d+)", text, re.M).group(1))
    return n, rss, pss


def tail(path, n=15):
    try:
        with open(path) as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return f"(no log at {path})"
