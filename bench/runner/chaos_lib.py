"""The chaos suite's instruments: the demo as one node or a head with
workers on loopback, a thread that samples the admin API's status, tools/
loadgen runs with a log line per request, and the exact accounting of every
request (each ends once: an answer, a cut of ours, a transport error; none
lost, none answered twice)."""
import collections
import json
import math
import os
import re
import subprocess
import threading
import time
import urllib.request

from .procs import free_port, start, stop

TOKEN = "chaos-suite-token"


def get_json(port, path, timeout=2.0):
    """GET 127.0.0.1:`port``path` as JSON, or None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}",
                                    timeout=timeout) as r:
            return json.loads(r.read())
    except Exception:
        return None


def http(port, method, path, body=b"", timeout=5.0):
    """(status, body) of one request; (None, error text) when it fails."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                 data=body if method != "GET" else None,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except Exception as e:
        return None, str(e)


def wait_until(pred, timeout, step=0.05):
    """Polls `pred` until it is true or `timeout` seconds pass; returns its
    last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


class Node:
    """One demo process and the log it writes."""

    def __init__(self, proc, log_path):
        self.proc, self.log_path, self.node_id = proc, log_path, None

    def wait_line(self, pattern, timeout):
        def found():
            with open(self.log_path, errors="replace") as f:
                m = re.search(pattern, f.read())
            return m or self.proc.poll() is not None and "exited"
        m = wait_until(found, timeout)
        return m if m and m != "exited" else None


class Demo:
    """The demo as a single node (`workers` = 0) or a head with workers,
    on free loopback ports; `stop()` ends every process."""

    def __init__(self, build, tmp, key, workers=0, flags=()):
        self.binary = os.path.join(build, "apps", "actorserve-demo")
        self.tmp, self.key = tmp, key
        self.port, self.admin = free_port(), free_port()
        self.env = dict(os.environ, ACTORSERVE_CLUSTER_TOKEN=TOKEN)
        cmd = [self.binary, "--port", str(self.port), "--admin-port",
               str(self.admin), *flags]
        if workers:
            self.cport = free_port()
            cmd += ["--cluster-port", str(self.cport), "--expect-nodes",
                    str(workers)]
        self.head = self._start(cmd, "head")
        self.workers = [self.add_worker(f"w{k}") for k in range(workers)]
        if not self.head.wait_line(r"serving on", 120):
            self.stop()
            raise RuntimeError(f"the demo did not come up "
                               f"({self.head.log_path})")
        for w in self.workers:
            m = w.wait_line(r"worker node (\d+)", 30)
            if not m:
                self.stop()
                raise RuntimeError(f"a worker did not join ({w.log_path})")
            w.node_id = int(m.group(1))

    def _start(self, cmd, name):
        path = os.path.join(self.tmp, f"{self.key}_{name}.log")
        return Node(start(cmd, path, env=self.env), path)

    def add_worker(self, name):
        return self._start([self.binary, "--join", f"127.0.0.1:{self.cport}"],
                           name)

    def status(self):
        return get_json(self.admin, "/-/status")

    def stop(self):
        for n in [self.head, *self.workers]:
            stop(n.proc, grace=10)


def view_of(st):
    """The parts of a status the suite looks at: per "app/Deployment" its
    target, status and replicas (id, state, node, version, ongoing), and
    each node's state."""
    if not st:
        return None
    deps = {}
    for app, a in st.get("applications", {}).items():
        for name, d in a.get("deployments", {}).items():
            deps[f"{app}/{name}"] = {
                "target": d.get("target_replicas"),
                "status": d.get("status"),
                "replicas": [(r["replica_id"], r["state"], r.get("node_id"),
                              r.get("version"), r.get("ongoing_requests", 0))
                             for r in d.get("replicas", [])]}
    nodes = {n["node_id"]: n["state"] for n in st.get("nodes", [])}
    return {"deployments": deps, "nodes": nodes}


def ready(dep):
    return [r for r in dep["replicas"] if r[1] == "READY"]


def at_target(view, keys):
    """Every deployment of `keys` HEALTHY with its target of READY
    replicas."""
    if not view:
        return False
    deps = view["deployments"]
    return all(k in deps and deps[k]["status"] == "HEALTHY" and
               len(ready(deps[k])) == deps[k]["target"] for k in keys)


class Poller(threading.Thread):
    """Samples the admin API's status every `period` seconds into
    `samples`: (monotonic time, view or None)."""

    def __init__(self, admin_port, period=0.05):
        super().__init__(daemon=True)
        self.port, self.period = admin_port, period
        self.samples, self.halt = [], threading.Event()

    def run(self):
        while not self.halt.is_set():
            t = time.monotonic()
            v = view_of(get_json(self.port, "/-/status", timeout=1.0))
            # Stamped when the answer came: the state it shows is at most
            # that old.
            self.samples.append((time.monotonic(), v))
            self.halt.wait(max(0.0, self.period - (time.monotonic() - t)))

    def stop(self):
        self.halt.set()
        self.join(timeout=5)

    def first(self, after, pred):
        """The time of the first sample taken after `after` for which
        `pred(view)` holds, or None."""
        for t, v in list(self.samples):
            if t > after and v and pred(v):
                return t
        return None

    def wait(self, after, pred, timeout):
        """Waits up to `timeout` s for a sample after `after` with
        `pred`; its time, or None."""
        return wait_until(lambda: self.first(after, pred), timeout)


class Load:
    """One tools/loadgen run in the background, logging every request."""

    def __init__(self, build, tmp, name, port, path, rate, seconds, conns=8,
                 method="GET", body=None, headers=(), vary=1, cut=0.0,
                 cut_max_ms=100, seed=1, timeout=30, delay=0.0, log=True):
        # Without the log (a long soak), the summary's counts stand in.
        self.log = os.path.join(tmp, f"{name}.requests") if log else None
        self.rate, self.seconds, self.conns = rate, seconds, conns
        cmd = [os.path.join(build, "tools", "loadgen", "loadgen"),
               "--url", f"http://127.0.0.1:{port}{path}", "--rate",
               str(rate), "--duration", str(seconds), "--connections",
               str(conns), "--method", method, "--timeout", str(timeout),
               "--json"] + (["--log", self.log] if log else [])
        if body is not None:
            cmd += ["--body", body]
        for h in headers:
            cmd += ["--header", h]
        if vary > 1:
            cmd += ["--vary", str(vary)]
        if cut:
            cmd += ["--cut", str(cut), "--cut-max-ms", str(cut_max_ms),
                    "--seed", str(seed)]
        self.timeout = seconds + timeout + 30
        self.proc = None
        # A delayed load starts on a thread; result() waits for it.
        self.starter = threading.Timer(delay, self._start, [cmd])
        self.starter.start()

    def _start(self, cmd):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)

    def result(self):
        """Waits for the run; (summary, per-request log)."""
        self.starter.join()
        try:
            out, err = self.proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
        try:
            summary = json.loads(out.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise RuntimeError(f"loadgen gave no summary: {err[-500:]}")
        rows = []
        if self.log and os.path.exists(self.log):
            with open(self.log) as f:
                for line in f:
                    i, due, end, what = line.split()
                    rows.append((int(i), int(due) / 1e9, int(end) / 1e9, what))
        return summary, rows


def scheduled(rate, seconds):
    """How many requests loadgen's schedule holds: those due before the
    end, request i at i / rate."""
    return math.ceil(rate * seconds - 1e-9)


def ok_outcome(what):
    return what.isdigit() and 200 <= int(what) < 300


def _tally(out, what, n, t_due=None):
    """Counts `n` requests that ended with `what`."""
    out["outcomes"][what] += n
    if what == "cut":
        out["cut"] += n
        return
    if what in ("timeout", "pending"):
        out["lost"] += n
    elif what.isdigit():
        out["answered"] += n
    if not ok_outcome(what):
        out["failures"] += [(t_due, what)] * n


def account(loads):
    """The exact accounting over some Loads' ((summary, rows), expected
    count): each request scheduled ends exactly once, none is lost
    (timeout) and none answered twice; failures are the ends that are
    neither 2xx nor our cut, with the time each was due."""
    out = {"due": 0, "answered": 0, "cut": 0, "lost": 0, "twice": 0,
           "unsolicited": 0, "missing": 0, "worst_ms": 0.0,
           "outcomes": collections.Counter(), "failures": []}
    for (summary, rows), expected in loads:
        due = summary["due"]
        out["due"] += due
        out["twice"] += summary.get("ended_twice", 0)
        out["unsolicited"] += summary.get("unsolicited", 0)
        if due != expected:  # the schedule itself is off
            out["missing"] += abs(due - expected)
        if not rows:  # no log: the summary's counts stand in
            for what, n in summary["outcomes"].items():
                _tally(out, what, n)
            out["missing"] += due - summary["ended"]
            out["worst_ms"] = max(out["worst_ms"], summary["worst_us"] / 1e3)
            continue
        seen = collections.Counter(i for i, *_ in rows)
        out["missing"] += sum(1 for i in range(due) if seen[i] == 0)
        out["twice"] += sum(1 for n in seen.values() if n > 1)
        for i, t_due, t_end, what in rows:
            _tally(out, what, 1, t_due)
            if what != "cut":
                out["worst_ms"] = max(out["worst_ms"], (t_end - t_due) * 1e3)
    ended = sum(out["outcomes"].values())
    out["exact"] = (out["missing"] == out["lost"] == out["twice"] ==
                    out["unsolicited"] == 0 and ended == out["due"])
    out["outcomes"] = dict(out["outcomes"])
    return out


def settle(demo, timeout=10.0):
    """Waits (bounded) until no replica holds a slot; returns the slots
    still held at the end (0: none leaked) and the seconds it took."""
    t0 = time.monotonic()

    def held():
        v = view_of(demo.status())
        if not v:
            return None
        return sum(r[4] for d in v["deployments"].values()
                   for r in d["replicas"])
    n = wait_until(lambda: held() == 0, timeout, step=0.1)
    left = 0 if n else held()
    return (left if left is not None else -1), time.monotonic() - t0
