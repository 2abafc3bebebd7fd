"""The `ha` part of docs/reliability.md: the head's failures, one row per
figure (figure | goal | measured | command)."""


def _ms(x):
    return "not within 30 s" if x is None else f"{x:,} ms"


def _failed(w):
    if not w:
        return "–"
    by = ", ".join(f"{k} {v:,}" for k, v in sorted(w["failed_by"].items()))
    return (f"{w['failed']:,} of {w['requests']:,}" +
            (f" ({by})" if by else ""))


def _p99(w):
    return f"{w['p99_ms']:.2f} ms" if w and w.get("p99_ms") else "–"


def _verdict(ok):
    return "" if ok else " **(misses)**"


def _recovery(x, since=None):
    """How long a head took to show the replicas it had (since its start,
    or since `since`), or what it showed instead."""
    if x["ms"] is not None:
        return f"{x['ms']:,} ms" + (f" after {since}" if since else "")
    return (f"not within 10 s" + (f" of {since}" if since else "") +
            f": {x['ready']} READY, {x['kept']} of them the ones it had")


def _restart_row(n, x):
    goal = x["grace_ms"] + 2000
    flag = (f" `--recovery-grace-ms {x['grace_ms']}`" if x["explicit"]
            else "")
    return (f"head restarted to every application RUNNING with the same "
            f"{n} replica ids (grace {x['grace_ms']:,} ms)",
            f"≤ grace + 2 s = {goal:,} ms",
            _recovery(x) + _verdict(x["ms"] is not None and x["ms"] <= goal),
            f"`actorserve-demo --state-dir DIR`{flag}, the same ports")


def _standby_rows(h, s):
    """The takeover's rows: its time, and the failed requests."""
    if not s:
        return []
    if "error" in s:
        return [("standby takeover (Redis)", "", "did not run: " +
                 s["error"][:160], "")]
    t, x = s["takeover_ms"], s["recovered"]
    grace = f"grace {x['grace_ms']:,} ms"
    flag = (f", `--recovery-grace-ms {x['grace_ms']}`" if x.get("explicit")
            else "")
    return [
        (f"leader kill -9 to the standby answering status as the head "
         f"({grace})", "≤ 5,000 ms",
         _ms(t) + _verdict(t is not None and t <= 5000),
         f"`--state-store redis://… --standby`, `--lease-ttl-ms "
         f"{h['lease_ms']}`{flag}"),
        (f"requests failed through the worker's proxy during the "
         f"takeover ({grace})", "0", _failed(s["load"]) +
         _verdict(s["load"]["failed"] == 0), "`kill -9` the leader"),
        (f"the standby to every application RUNNING with the same "
         f"replica ids ({grace})", "–",
         _recovery(x, "the kill"), "the admin status, every 20 ms")]


def _rows(h):
    """(figure, goal, measured, command) for each figure measured."""
    rows, r = [], h.get("restart") or {}
    if "error" in r:
        rows.append(("head kill -9 and restart (SQLite)", "", "did not run: "
                     + r["error"][:160], ""))
    else:
        alive, dead = r["alive"], r["dead"]
        ratio = (dead["p99_ms"] / alive["p99_ms"] if dead.get("p99_ms") and
                 alive.get("p99_ms") else None)
        rows += [
            (f"requests failed through the worker's proxy in the "
             f"{h['window_s']:g} s after the head's kill -9", "0",
             _failed(dead) + _verdict(dead["failed"] == 0),
             "`kill -9` the head"),
            ("p99 through the worker's proxy, head dead / head alive "
             "(same load)", "≤ 1.5×",
             (f"{ratio:.2f}× ({dead['p99_ms']:.2f} ms / "
              f"{alive['p99_ms']:.2f} ms; head alive again after the "
              f"restart: {_p99(r.get('alive_again'))})" +
              _verdict(ratio <= 1.5))
             if ratio else "–", "the same loadgen run, head alive")]
        rows += [_restart_row(r["replicas"], x) for x in r["restarts"]]
    for key in ("standby", "standby_grace"):
        rows += _standby_rows(h, h.get(key))
    return rows


def ha_section(report, h):
    """Writes the part into `report` (a ReliabilityReport)."""
    where = next((h[k]["route"] for k in ("restart", "standby")
                  if (h.get(k) or {}).get("route")), "/classify")
    report.w("", "### The head's failures", "",
             f"A head with no room for replicas (`--memory-budget-mb "
             f"0.001`), two workers with `--proxy`, heartbeats every "
             f"{h['heartbeat_ms']} ms (DEAD after 600 ms, a silent "
             f"connection closed after 2 s), the recovery grace "
             f"{h['grace_ms']} ms (the default: three heartbeats, at least a worker's longest wait between tries to join, 2 s, plus one). Load: tools/loadgen, "
             f"open loop, `POST {where}` at {h['rate']}/s over "
             f"{h['conns']} connections, sent to the proxy of the worker "
             f"that hosts every deployment of the route. Latency counts "
             f"from each request's intended start; p99 over the "
             f"{h['window_s']:g} s after the kill against {h['window_s']:g} "
             f"s of the same load with the head alive. Restart: from the "
             f"new process's start to the first admin status (polled every "
             f"20 ms) with every application RUNNING and the same READY "
             f"replica ids. Takeover: a redis-server without persistence, "
             f"the leader and a standby on the same ports; from the kill "
             f"to the first status answered by the standby; the load runs "
             f"from 1.5 s before the kill for {h['window_s']:g} s.", "",
             "| figure | goal | measured | command |", "|---|---|---|---|")
    for row in _rows(h):
        report.w("| " + " | ".join(row) + " |")
    report.w("")
