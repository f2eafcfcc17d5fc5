"""Burst: 300 commands posted at once, as after a Slack outage (issue 18).

3 Pis under Slack's real rate limits (the emulator's token buckets), 50 ms added to
every Web API call. The Pis are cut off while 300 `count N` are posted, then restored:
catch-up finds them all at once. Measured: the time until every command is answered and
every claim released, answer latencies (from the end of the outage), runs twice, 429s
met, and the Web API calls spent.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from troupe.testing import wait_for

from .common import percentile, probe_federation, progress, run_counts


def run(workdir: Path, *, commands: int = 300, hosts: int = 3,
        latency_ms: int = 50) -> dict[str, Any]:
    progress(f"burst: {commands} commands posted at once; {hosts} Pis, real rate limits, "
             f"{latency_ms} ms per call")
    with probe_federation(workdir / "burst", hosts, preferred=True, rate_limits="real",
                          latency_ms=latency_ms) as (fed, log):
        for host in fed.host_names:
            fed.ws.cut_off(host)
        posted = [fed.say(f"count {n}") for n in range(commands)]
        calls_before = len(fed.ws.log()["calls"])
        started = time.time()
        for host in fed.host_names:
            fed.ws.restore(host)
        answered: dict[str, float] = {}

        def done() -> bool:
            for m in fed.bot_messages():
                payload = (m.get("metadata") or {}).get("event_payload") or {}
                ts = payload.get("command_ts")
                if ts in posted and ts not in answered:
                    answered[ts] = float(m["ts"])
            return len(answered) == commands and not fed.ws.pins()

        wait_for(done, 1800, "every command answered and every claim released", interval=1.0)
        seconds = time.time() - started
        calls = fed.ws.log()["calls"][calls_before:]
        runs = run_counts(log)
    latencies = sorted(at - started for at in answered.values())
    spent: dict[str, int] = {}
    for call in calls:
        spent[call["method"]] = spent.get(call["method"], 0) + 1
    result = {"commands": commands, "hosts": hosts, "latency_ms": latency_ms,
              "seconds": seconds, "p50": percentile(latencies, 50),
              "p99": percentile(latencies, 99), "twice": sum(1 for n in runs.values() if n > 1),
              "ran": len(runs), "limited": sum(1 for c in calls if c["result"] == "429"),
              "calls": spent}
    progress(f"  worked through {commands} in {seconds:.0f} s (answers p50 {result['p50']:.0f} s, "
             f"p99 {result['p99']:.0f} s); ran twice {result['twice']}; 429s {result['limited']}")
    return result
