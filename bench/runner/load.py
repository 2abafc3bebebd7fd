"""The load generators: wrk (closed loop) and tools/loadgen (open loop)."""
import json
import os
import re

from .config import BUILD, WRK_SCRIPT
from .procs import run


def wrk(url, conns, seconds, post_bytes=0, threads=1, prefix=(), body=None,
        script=WRK_SCRIPT, env_extra=None):
    env = dict(os.environ)
    env.update(env_extra or {})
    if post_bytes:
        env["POST_BYTES"] = str(post_bytes)
    if body:
        env["POST_BODY"] = body
    r = run([*prefix, "wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s",
             "--timeout", "5s", "-s", script, url], timeout=seconds + 60,
            env=env)
    m = re.search(r"^RESULT (.*)$", r.stdout, re.M)
    if not m:
        return None
    res = {k: float(v) for k, v in
           (kv.split("=") for kv in m.group(1).split())}
    res["failed"] = res["sock_errors"] + res["non2xx"]
    return res


def loadgen(url, rate, conns, seconds, post_bytes=0, warmup=1):
    cmd = [os.path.join(BUILD, "tools", "loadgen", "loadgen"), "--url", url,
           "--rate", str(rate), "--duration", str(seconds),
           "--warmup", str(warmup),
           "--connections", str(conns), "--json"]
    if post_bytes:
        cmd += ["--method", "POST", "--body-bytes", str(post_bytes)]
    r = run(cmd, timeout=seconds + 60)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return None
