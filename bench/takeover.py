"""Takeover: a Pi dies (SIGKILL) holding a claim; how long until another Pi takes it over.

`hold N` (probe plugin) is not idempotent, so the Pi that takes over reports it as
interrupted rather than running it again. Timed from the kill and from the claim
(the pin's creation, in the emulator's record) to that report; the lease bounds it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from troupe.testing import wait_for

from .common import calls_between, probe_federation, progress, run_counts, settle

LEASE = 5.0


def run(workdir: Path, *, reps: int, hosts: int = 3, latencies: tuple[int, ...] = (0, 50),
        preferred: bool | float = False) -> list[dict[str, Any]]:
    rows = []
    for latency_ms in latencies:
        progress(f"takeover: {hosts} Pis, {latency_ms} ms, preferred={preferred}")
        with probe_federation(workdir / f"takeover-{latency_ms}-{preferred}", hosts,
                              preferred=preferred, latency_ms=latency_ms,
                              config={"troupe": {"lease": LEASE}}) as (fed, runs):
            for n in range(reps):
                rows.append({"latency_ms": latency_ms, "preferred": preferred,
                             **_one(fed, runs, n)})
    return rows


def _one(fed, runs: Path, n: int) -> dict[str, Any]:
    ts = fed.say(f"hold {n}")
    wait_for(lambda: run_counts(runs, "start").get(n), 20, f"a Pi to start hold {n}",
             interval=0.01)
    line = next(x for x in runs.read_text().splitlines() if x.startswith(f"start {n} "))
    holder = line.split()[2]
    pinned = next(c["time"] for c in fed.ws.log()["calls"]
                  if c["method"] == "pins.add" and c["args"].get("timestamp") == ts
                  and c["result"] == "ok")
    killed = time.time()
    fed.kill(holder)
    report = wait_for(lambda: [m for m in fed.bot_messages(thread_ts=ts)
                               if "may or may not have happened" in m["text"]], 60,
                      "a takeover report",
                      interval=0.02)[0]
    settle(fed, 30)
    calls = calls_between(fed, killed, float(report["ts"]) + 0.5)
    fed.start_host(holder)  # back for the next round
    return {"holder": holder, "by": fed.host_of(report),
            "from_kill": float(report["ts"]) - killed, "from_claim": float(report["ts"]) - pinned,
            "calls": len(calls)}
