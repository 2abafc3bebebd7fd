"""Chaos scenarios on one node: a replica that crashes, one that turns
sick, a rolling update, autoscaling up and down, a storm of disconnects,
and SIGTERM under load."""
import json
import os
import signal
import time

from .chaos_lib import Demo, at_target, get_json, http, ready, wait_until
from .chaos_run import Fault, Spec, background, later, run_scenario

FLAKY = "flaky/Flaky"
FLAKY_SLOTS = 5  # Flaky's max_ongoing_requests (the default)


def replaced(key, rid):
    """Status predicate: `key` is back at target and replica `rid` is
    gone."""
    def pred(v):
        return at_target(v, [key]) and all(
            r[0] != rid for r in v["deployments"][key]["replicas"])
    return pred


def flaky_load(ctx, seconds):
    return [Spec("flaky", "/flaky", ctx.r(200), seconds, method="POST",
                 body="{}", conns=8)]


def poke(demo, path):
    """POSTs `path` (a fault by request); the replica id that answered, or
    the status and body of an answer that is not 200."""
    code, body = http(demo.port, "POST", path)
    if code != 200:
        return None, f"{code} {body[:160]}"
    return json.loads(body)["replica"], None


def crash(ctx):
    """POST /flaky/crash every second under load: each crash may fail at
    most the calls in flight on that replica (its slots, and no more than
    the load's connections). A crash request that finds no replica to
    crash is reported, not counted as a fault."""
    secs = ctx.s(12)
    demo = Demo(ctx.build, ctx.tmp, "crash", flags=ctx.flags)

    def schedule(t0, demo, poller):
        faults, refused = [], []
        for k in range(int(secs) - 2):
            later(t0, 1 + k)
            rid, why = poke(demo, "/flaky/crash")
            if why:
                refused.append(why)
                continue
            faults.append(Fault(time.monotonic(), "POST /flaky/crash",
                                replaced(FLAKY, rid)))
        return faults, {"crash_refused": refused, "checks": {
            "every crash request found a replica": not refused}}
    try:
        return run_scenario(ctx, "replica crash", demo, flaky_load(ctx, secs),
                            schedule, lambda fs: len(fs) * min(8, FLAKY_SLOTS),
                            [FLAKY])
    finally:
        demo.stop()


def sick(ctx):
    """POST /flaky/sick once: the replica fails its health checks and is
    drained and replaced; no request may fail."""
    secs = ctx.s(10)
    demo = Demo(ctx.build, ctx.tmp, "sick", flags=ctx.flags)

    def schedule(t0, demo, poller):
        later(t0, 1)
        rid, why = poke(demo, "/flaky/sick")
        if why:
            raise RuntimeError(f"POST /flaky/sick: {why}")
        return [Fault(time.monotonic(), "POST /flaky/sick",
                      replaced(FLAKY, rid))], {}
    try:
        return run_scenario(ctx, "sick replica", demo, flaky_load(ctx, secs),
                            schedule, lambda fs: 0, [FLAKY])
    finally:
        demo.stop()


def rolling(ctx):
    """PATCH the Flaky deployment to version 2 under load: each new replica
    is ready before an old one drains; no request may fail."""
    secs = ctx.s(12)
    demo = Demo(ctx.build, ctx.tmp, "rolling", flags=ctx.flags)

    def updated(v):
        reps = v["deployments"][FLAKY]["replicas"]
        return at_target(v, [FLAKY]) and all(r[3] == "2" for r in reps)

    def schedule(t0, demo, poller):
        later(t0, 1)
        t = time.monotonic()
        patch = background(lambda: http(
            demo.admin, "PATCH", "/api/serve/applications/flaky/deployments/"
            "Flaky", b'{"version": "2"}', timeout=60))
        code, body = patch(timeout=90) or (None, "no answer")
        return [Fault(t, "PATCH version 1 → 2", updated)], {
            "patch_status": code,
            "checks": {"PATCH answered 200": code == 200}}
    try:
        return run_scenario(ctx, "rolling update", demo,
                            flaky_load(ctx, secs), schedule, lambda fs: 0,
                            [FLAKY])
    finally:
        demo.stop()


def autoscale(ctx):
    """A steady trickle on /autoscale with a burst on top: the Worker
    deployment scales up during the burst and back to 1 after it; no
    request may fail."""
    key, secs, burst = "autoscale/Worker", ctx.s(24), ctx.s(8)
    demo = Demo(ctx.build, ctx.tmp, "autoscale", flags=ctx.flags)
    specs = [Spec("trickle", "/autoscale?ms=50", ctx.r(20), secs, conns=8),
             Spec("burst", "/autoscale?ms=50", ctx.r(100), burst, conns=16,
                  delay=2.0)]

    def target(v):
        return v["deployments"][key]["target"]

    def schedule(t0, demo, poller):
        later(t0, 2)
        up = Fault(time.monotonic(), "scaled up after the burst began",
                   lambda v: target(v) > 1 and at_target(v, [key]))
        later(t0, 2 + burst)
        down = Fault(time.monotonic(), "back to 1 after it ended",
                     lambda v: target(v) == 1 and at_target(v, [key]))
        later(t0, secs)
        peak = max((target(v) for _, v in poller.samples if v), default=0)
        return [up, down], {"peak_replicas": peak,
                            "fault": "a 6× burst for 8 s", "checks": {
            "scaled up": peak > 1}}
    try:
        return run_scenario(ctx, "autoscale up and down", demo, specs,
                            schedule, lambda fs: 0, [key])
    finally:
        demo.stop()


def storm(ctx, total=10000):
    """`total` requests on /stream, /blocking and /batch, each cut at a
    random point (some are answered first): no answer may fail, no slot
    leak, and the stream producer's counts must add up."""
    secs = ctx.s(20)
    # /blocking has 4 slots and a queue of 4: a fifth of the storm keeps it
    # under its capacity, so any 503 there is a slot that did not come back.
    rate = [max(5, int(total * share / secs)) for share in (0.4, 0.2, 0.4)]
    demo = Demo(ctx.build, ctx.tmp, "storm", flags=ctx.flags)
    specs = [
        Spec("stream", "/stream", rate[0], secs, method="POST", conns=32,
             body='{"prompt": "a b c d", "n": 20, "delay_ms": 5}', cut=1.0,
             cut_max_ms=150, seed=1),
        Spec("blocking", "/blocking?ms=10", rate[1], secs, conns=16, cut=1.0,
             cut_max_ms=20, seed=2),
        Spec("batch", "/batch", rate[2], secs, method="POST", conns=16,
             body='{"x": 2}', cut=1.0, cut_max_ms=30, seed=3)]

    def schedule(t0, demo, poller):
        later(t0, secs)
        return [], {}
    try:
        row = run_scenario(ctx, "disconnect storm", demo, specs, schedule,
                           lambda fs: 0, [])
        st = get_json(demo.port, "/stream/stats") or {}
        ends = sum(st.get(k, 0) for k in ("finished", "cancelled", "failed"))
        row["stream_stats"] = st
        row["checks"]["every stream started ended"] = (
            bool(st) and st.get("started") == ends)
        row["ok"] = all(row["checks"].values())
        return row
    finally:
        demo.stop()


def sigterm(ctx, drain_ms=5000):
    """SIGTERM under load: requests due before the signal are answered
    (drained), the process exits 0 within the drain timeout."""
    secs = ctx.s(8)
    demo = Demo(ctx.build, ctx.tmp, "sigterm",
                flags=[*ctx.flags, "--drain-timeout-ms", str(drain_ms)])
    specs = [Spec("classify", "/classify", ctx.r(100), secs, method="POST",
                  body='{"text": "I love this"}', conns=8),
             Spec("blocking", "/blocking?ms=200", ctx.r(10), secs, conns=8)]

    def schedule(t0, demo, poller):
        later(t0, 3)
        t = time.monotonic()
        os.kill(demo.head.proc.pid, signal.SIGTERM)
        wait_until(lambda: demo.head.proc.poll() is not None,
                   drain_ms / 1000 + 15, step=0.01)
        took = time.monotonic() - t
        code = demo.head.proc.poll()
        return [Fault(t, "SIGTERM")], {
            "exit_code": code, "drain_s": round(took, 3),
            "counts": lambda t_due, what: t_due < t,
            "checks": {"exit 0": code == 0,
                       "drained within the timeout":
                           took <= drain_ms / 1000 + 2}}
    try:
        return run_scenario(ctx, "SIGTERM under load", demo, specs, schedule,
                            lambda fs: 0, [], settle_demo=False)
    finally:
        demo.stop()

