"""The head's failures (`bench/run --only ha`): a head with no room for
replicas and two workers that serve HTTP themselves (--proxy), under an
open-loop load sent to the worker that hosts /classify. Measured: the
head killed -9 (failed requests and p99 through the worker against the
same load with the head alive), the head restarted from its SQLite store
(time to every application RUNNING with the same replicas), and a standby
head on Redis taking over from a killed leader (time to its status, and
failed requests)."""
import math
import os
import signal
import time

from .chaos_lib import TOKEN, Load, Node, get_json, ok_outcome, wait_until
from .config import BUILD
from .procs import free_port, log, start, stop

HEARTBEAT_MS = 200
FAST = ["--heartbeat-period-ms", str(HEARTBEAT_MS), "--heartbeat-timeout-ms",
        "600", "--cluster-connection-timeout-ms", "2000"]
# A worker that lost its head tries to join again after 100 ms, doubling up
# to 2 s. --recovery-grace-ms 0 (the default): three heartbeat periods, and
# at least that longest wait plus one period, so that every worker tries
# once within it.
MAX_REJOIN_BACKOFF_MS = 2000
GRACE_MS = max(3 * HEARTBEAT_MS, MAX_REJOIN_BACKOFF_MS + HEARTBEAT_MS)
LONG_GRACE_MS = 2500
LEASE_MS = 3000  # --lease-ttl-ms, the default
RATE, CONNS, WINDOW_S = 200, 8, 10.0
BOUND_S = 240  # no process of the step outlives this, even if the run dies
ROUTES = {"classify": ("POST", '{"text": "I love this"}'),
          "flaky": ("POST", "")}


def bounded(cmd):
    return ["timeout", "-s", "KILL", str(BOUND_S), *cmd]


def grace_flags(ms):
    """--recovery-grace-ms `ms`; none (the default) for None."""
    return ["--recovery-grace-ms", str(ms)] if ms else []


def kill9(node):
    """kill -9 to the process (its group: the bound and the demo)."""
    os.killpg(node.proc.pid, signal.SIGKILL)
    node.proc.wait(timeout=10)
    stop(node.proc)


def running_replicas(st):
    """{app/deployment: sorted READY replica ids} if every application is
    RUNNING, else None."""
    apps = (st or {}).get("applications") or {}
    if not apps or any(a.get("status") != "RUNNING" for a in apps.values()):
        return None
    return {f"{name}/{d}": sorted(r["replica_id"] for r in dep["replicas"]
                                  if r["state"] == "READY")
            for name, a in apps.items()
            for d, dep in a["deployments"].items()}


def hosted_route(st, workers):
    """(app, route, worker) for the first of ROUTES whose every deployment
    has a READY replica on one worker: its proxy needs no other node."""
    for app in ROUTES:
        a = st["applications"].get(app)
        for w in workers:
            if a and all(any(r["node_id"] == w.node_id and
                             r["state"] == "READY" for r in d["replicas"])
                         for d in a["deployments"].values()):
                return app, a["route_prefix"], w
    return None


class Cluster:
    """The head (`store`: its state-store flags) and two workers with
    proxies, on free loopback ports; `stop()` ends every process."""

    def __init__(self, build, tmp, key, store):
        self.binary = os.path.join(build, "apps", "actorserve-demo")
        self.tmp, self.key, self.store = tmp, key, store
        self.env = dict(os.environ, ACTORSERVE_CLUSTER_TOKEN=TOKEN)
        self.port, self.admin, self.cport = (free_port(), free_port(),
                                             free_port())
        self.nodes = []
        self.head = self.start_head("head")
        self.workers = []
        for k in range(2):
            wport = free_port()
            w = self._start([self.binary, "--join",
                             f"127.0.0.1:{self.cport}", "--proxy", "--port",
                             str(wport), *FAST], f"w{k}")
            w.port = wport
            self.workers.append(w)
        try:
            self._wait_up()
        except Exception:
            self.stop()
            raise

    def head_cmd(self, extra=()):
        return [self.binary, "--port", str(self.port), "--admin-port",
                str(self.admin), "--cluster-port", str(self.cport),
                "--expect-nodes", "2", "--memory-budget-mb", "0.001",
                *self.store, *extra, *FAST]

    def start_head(self, name, extra=()):
        return self._start(self.head_cmd(extra), name)

    def _start(self, cmd, name):
        path = os.path.join(self.tmp, f"ha_{self.key}_{name}.log")
        node = Node(start(bounded(cmd), path, env=self.env), path)
        self.nodes.append(node)
        return node

    def _wait_up(self):
        if not self.head.wait_line(r"serving on", 120):
            raise RuntimeError(f"the head did not come up "
                               f"({self.head.log_path})")
        for w in self.workers:
            m = w.wait_line(r"worker node (\d+)", 30)
            if not m or not w.wait_line(r"worker proxy serving on", 30):
                raise RuntimeError(f"a worker did not join ({w.log_path})")
            w.node_id = int(m.group(1))
        if not wait_until(lambda: running_replicas(self.status()), 60):
            raise RuntimeError("the applications did not reach RUNNING")

    def status(self):
        return get_json(self.admin, "/-/status", timeout=1.0)

    def target(self):
        """(status, its replicas, app, route, worker): what the load is
        sent to."""
        st = self.status()
        app, route, w = hosted_route(st, self.workers) or (None,) * 3
        if not app:
            raise RuntimeError("no worker hosts /classify or /flaky alone")
        log(f"ha: load {RATE}/s on {route} through worker node {w.node_id}")
        return st, running_replicas(st), app, route, w

    def stop(self):
        for n in self.nodes:
            stop(n.proc, grace=10)


def p99(ms):
    xs = sorted(ms)
    return xs[max(0, math.ceil(0.99 * len(xs)) - 1)] if xs else None


def window(rows, t_from, seconds):
    """The requests due in [t_from, t_from + seconds): count, failed (by
    outcome) and p99 latency in ms (from the intended start)."""
    sel = [r for r in rows if t_from <= r[1] < t_from + seconds]
    failed = {}
    for _, _, _, what in sel:
        if not ok_outcome(what):
            failed[what] = failed.get(what, 0) + 1
    return {"requests": len(sel), "failed": sum(failed.values()),
            "failed_by": failed,
            "p99_ms": p99([(end - due) * 1e3 for _, due, end, _ in sel])}


def load(ctx_tmp, build, name, w, route, app, seconds):
    method, body = ROUTES[app]
    return Load(build, ctx_tmp, f"ha_{name}", w.port, route, RATE, seconds,
                conns=CONNS, method=method, body=body, timeout=10)


def alive_window(tmp, build, name, w, route, app):
    """The load for WINDOW_S s after a second of its own (connections,
    warm caches), the head alive."""
    _, rows = load(tmp, build, name, w, route, app, WINDOW_S + 1).result()
    return window(rows, rows[0][1] + 1.0, WINDOW_S) if rows else {}


def wait_recovered(c, before, t_start, limit=10.0):
    """Polls the admin status every 20 ms until it shows every application
    RUNNING with the replicas of `before`. Returns {"ms": since `t_start`,
    or None after `limit` s; "ready": READY replicas in the last status;
    "kept": how many of them `before` had}."""
    last = {}

    def same():
        now = running_replicas(c.status())
        if now is not None:
            last["v"] = now
        return now == before and time.monotonic()
    at = wait_until(same, limit, step=0.02)
    ids = {(k, i) for k, v in last.get("v", {}).items() for i in v}
    kept = {(k, i) for k, v in before.items() for i in v}
    return {"ms": round((at - t_start) * 1e3) if at else None,
            "ready": len(ids), "kept": len(ids & kept)}


def restart(c, before, name, grace_ms=None):
    """Starts the head again (same store, same ports; `grace_ms`:
    --recovery-grace-ms) and waits for it to show `before`."""
    t_start = time.monotonic()
    c.head = c.start_head(name, grace_flags(grace_ms))
    out = wait_recovered(c, before, t_start)
    out["grace_ms"], out["explicit"] = grace_ms or GRACE_MS, bool(grace_ms)
    out["adopted"] = bool(c.head.wait_line(r"adopted", 1))
    return out


def headless(build, tmp):
    """SQLite store: the head killed -9 under load, then restarted."""
    c = Cluster(build, tmp, "sqlite", ["--state-dir",
                                      os.path.join(tmp, "ha_state")])
    try:
        st, before, app, route, w = c.target()
        alive = alive_window(tmp, build, "alive", w, route, app)
        under = load(tmp, build, "headless", w, route, app, WINDOW_S + 2)
        time.sleep(1.5)
        t_kill = time.monotonic()
        kill9(c.head)
        _, rows = under.result()
        dead = window(rows, t_kill, WINDOW_S)
        restarts = [restart(c, before, "restarted")]
        # Again with a grace longer than a worker's longest rejoin backoff
        # (2 s), the workers headless long enough to be at that backoff.
        kill9(c.head)
        time.sleep(4.0)
        restarts.append(restart(c, before, "restarted_grace",
                                LONG_GRACE_MS))
        # The same load once more with the head back: how much p99 moves
        # between two runs with nothing killed (other work on the host).
        again = alive_window(tmp, build, "alive_again", w, route, app)
        return {"app": app, "route": route, "worker": w.node_id,
                "replicas": sum(len(v) for v in before.values()),
                "alive": alive, "dead": dead, "alive_again": again,
                "restarts": restarts}
    finally:
        c.stop()


def redis(tmp):
    port = free_port()
    path = os.path.join(tmp, "ha_redis.log")
    node = Node(start(bounded(["redis-server", "--port", str(port),
                               "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", tmp]), path),
                path)
    if not node.wait_line(r"Ready to accept connections", 10):
        stop(node.proc)
        raise RuntimeError(f"redis-server did not start ({path})")
    return node, port


def head_pid(st):
    return next((n.get("pid") for n in (st or {}).get("nodes", [])
                 if n.get("role") == "head"), None)


def leads(c, old):
    """Whether the admin status answers with a head other than the
    process `old`."""
    pid = head_pid(c.status())
    return pid is not None and pid != old


def takeover(build, tmp, grace_ms=None):
    """Redis store: a leader, a standby on the same ports (`grace_ms`: its
    --recovery-grace-ms), the leader killed -9 under load."""
    rnode, rport = redis(tmp)
    c = None
    key = "redis" + (f"_grace{grace_ms}" if grace_ms else "")
    try:
        c = Cluster(build, tmp, key, [
            "--state-store", f"redis://127.0.0.1:{rport}/ha",
            "--lease-ttl-ms", str(LEASE_MS)])
        sb = c.start_head("standby", ["--standby", *grace_flags(grace_ms)])
        if not sb.wait_line(r"standby: waiting", 20):
            raise RuntimeError(f"the standby did not wait ({sb.log_path})")
        st, before, app, route, w = c.target()
        old = head_pid(st)
        under = load(tmp, build, f"takeover_{key}", w, route, app, WINDOW_S)
        time.sleep(1.5)
        t_kill = time.monotonic()
        kill9(c.head)
        at = wait_until(lambda: leads(c, old) and time.monotonic(), 20,
                        step=0.02)
        recovered = wait_recovered(c, before, t_kill)
        recovered["grace_ms"] = grace_ms or GRACE_MS
        recovered["explicit"] = bool(grace_ms)
        _, rows = under.result()
        during = window(rows, rows[0][1] if rows else 0, WINDOW_S + 1)
        return {"app": app, "route": route, "worker": w.node_id,
                "takeover_ms": at and round((at - t_kill) * 1e3),
                "recovered": recovered, "load": during,
                "logged": bool(sb.wait_line(r"this head leads now", 1))}
    finally:
        if c:
            c.stop()
        stop(rnode.proc)


# Each measurement and its key in the results; the standby twice: with the
# default grace, and with one past a worker's longest rejoin backoff.
MEASURES = [("restart", headless), ("standby", takeover),
            ("standby_grace",
             lambda build, tmp: takeover(build, tmp, LONG_GRACE_MS))]


class HaScenarios:
    """The `ha` step of bench/run."""

    def ha(self):
        build = getattr(self.a, "build", BUILD)
        res = {"rate": RATE, "conns": CONNS, "window_s": WINDOW_S,
               "grace_ms": GRACE_MS, "lease_ms": LEASE_MS,
               "heartbeat_ms": HEARTBEAT_MS}
        self.results["ha"] = res
        for key, fn in MEASURES:
            log(f"ha: {key}")
            try:
                res[key] = fn(build, self.tmp)
                log(f"ha: {key}: {res[key]}")
            except Exception as e:
                res[key] = {"error": str(e) or type(e).__name__}
                log(f"ha: {key} failed: {res[key]['error']}")
        failed = [k for k, _ in MEASURES if "error" in res[k]]
        if failed:
            raise RuntimeError("ha measurements failed: " + ", ".join(failed))
