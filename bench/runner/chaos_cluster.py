"""Chaos scenarios on a head and two workers: a worker killed with
SIGKILL, a worker stopped (SIGSTOP) for 15 s and continued, and
model-routed requests with replicas on the workers."""
import os
import signal
import time

from .chaos_lib import Demo, at_target, ready
from .chaos_run import Fault, Spec, later, run_scenario

CLASSIFY = '{"text": "I love this"}'


def ready_on(v, node):
    """READY replicas on `node`, over every deployment."""
    return sum(1 for d in v["deployments"].values() for r in ready(d)
               if r[2] == node)


def moved(node, keys):
    """Status predicate: `node` is DEAD, nothing runs there any more, and
    every deployment is back at target."""
    def pred(v):
        return (v["nodes"].get(node) == "DEAD" and ready_on(v, node) == 0
                and at_target(v, keys))
    return pred


def cluster(ctx, key):
    demo = Demo(ctx.build, ctx.tmp, key, workers=2, flags=ctx.flags)
    st = demo.status()
    keys = sorted(st and [f"{a}/{d}" for a, app in st["applications"].items()
                          for d in app["deployments"]] or [])
    return demo, keys


def on_workers(demo, key):
    v = demo.status()
    deps = v and v["applications"].get(key.split("/")[0], {}).get(
        "deployments", {}).get(key.split("/")[1], {})
    return sum(1 for r in (deps or {}).get("replicas", [])
               if r.get("node_id") != 1 and r["state"] == "READY")


def worker_kill(ctx):
    """kill -9 a worker under load on /classify (a Tokenizer on every
    node): at most the calls in flight fail (one per connection of the
    load), and its replicas are placed on the other nodes."""
    secs = ctx.s(10)
    demo, keys = cluster(ctx, "kill")
    specs = [Spec("classify", "/classify", ctx.r(100), secs, method="POST",
                  body=CLASSIFY, conns=8)]

    def schedule(t0, demo, poller):
        later(t0, 3)
        w = demo.workers[1]
        before = ready_on(poller.samples[-1][1] or {"deployments": {}},
                          w.node_id)
        os.kill(w.proc.pid, signal.SIGKILL)
        return [Fault(time.monotonic(), "kill -9 a worker",
                      moved(w.node_id, keys))], {
            "replicas_on_node": before}
    try:
        return run_scenario(ctx, "worker kill -9", demo, specs, schedule,
                            lambda fs: len(fs) * 8, keys)
    finally:
        demo.stop()


def end_nodes(poller):
    """Each node's state and READY replicas in the last status sample."""
    v = next((v for _, v in reversed(poller.samples) if v), None)
    return v and {n: [s, ready_on(v, n)] for n, s in v["nodes"].items()}


def alive(v):
    return sum(1 for s in v["nodes"].values() if s == "ALIVE")


def worker_stop(ctx, stopped_s=15.0):
    """SIGSTOP a worker for `stopped_s` under load, then SIGCONT: it is
    declared DEAD after the heartbeat timeout and its replicas move; once
    continued it must rejoin the cluster (how long it takes is reported)."""
    secs = ctx.s(12) + stopped_s + ctx.s(10)
    demo, keys = cluster(ctx, "stop")
    specs = [Spec("classify", "/classify", ctx.r(100), secs, method="POST",
                  body=CLASSIFY, conns=8)]

    def schedule(t0, demo, poller):
        w = demo.workers[1]
        later(t0, 3)
        os.kill(w.proc.pid, signal.SIGSTOP)
        t_stop = time.monotonic()
        stop = Fault(t_stop, "replicas moved after SIGSTOP",
                     moved(w.node_id, keys))
        detected = poller.wait(t_stop, lambda v: v["nodes"].get(
            w.node_id) == "DEAD", stopped_s)
        later(t_stop, stopped_s)
        os.kill(w.proc.pid, signal.SIGCONT)
        t_cont = time.monotonic()
        rejoin = Fault(t_cont, "rejoined after SIGCONT",
                       lambda v: alive(v) == 3 and at_target(v, keys))
        later(t0, secs)
        return [stop, rejoin], {
            "detected_s": detected and round(detected - t_stop, 3),
            "worker_exit": w.proc.poll(),
            "fault": "SIGSTOP a worker for 15 s, then SIGCONT",
            "nodes_at_end": end_nodes(poller),
            "checks": {"declared DEAD while stopped": detected is not None,
                       "worker process still running": w.proc.poll() is None}}
    try:
        return run_scenario(ctx, "worker SIGSTOP 15 s", demo, specs,
                            schedule, lambda fs: 8, keys)
    finally:
        demo.stop()


def models(ctx):
    """/multi (model id in a header) and /models/{id}/predict over six
    models, with replicas on the workers and no fault: no request may
    fail."""
    secs = ctx.s(10)
    demo, keys = cluster(ctx, "models")
    specs = [
        Spec("multi", "/multi", ctx.r(50), secs, method="POST", body="{}",
             headers=["serve_multiplexed_model_id: m{n}"], vary=6, conns=8),
        Spec("predict", "/models/m{n}/predict", ctx.r(50), secs,
             method="POST", body='{"x": 2}', vary=6, conns=8)]
    spread = {k: on_workers(demo, k) for k in ("multi/MultiModel",
                                               "models/ModelRouter")}

    def schedule(t0, demo, poller):
        later(t0, secs)
        return [], {"replicas_on_workers": spread, "checks": {
            "replicas on workers": all(n > 0 for n in spread.values())}}
    try:
        return run_scenario(ctx, "model-routed requests", demo, specs,
                            schedule, lambda fs: 0, keys)
    finally:
        demo.stop()
