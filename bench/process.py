"""Per Pi process: start-up time until connected, resident memory after start and after
1,000 commands.

Start-up is timed from spawning `troupe run` to the time stamp of its " ready: " log
line. Memory is VmRSS from /proc/<pid>/status. The commands are `count N` (probe),
kept at most `in_flight` outstanding, spread over the Pis by the claims.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from troupe.testing import wait_for

from .common import log_time, probe_federation, progress, rss_kb, run_counts, settle


def run(workdir: Path, *, hosts: int = 3, commands: int = 1000, in_flight: int = 8,
        preferred: bool | float = False) -> dict[str, Any]:
    progress(f"process: {hosts} Pis, {commands} commands, preferred={preferred}")
    with probe_federation(workdir / f"process-{preferred}", hosts, preferred=preferred
                          ) as (fed, runs):
        startup = {}
        for name in fed.host_names:  # one at a time, so they do not share the CPU
            fed.kill(name)
            spawned = time.time()
            fed.start_host(name, wait=True)
            ready = next(line for line in fed.log(name, since_start=True).splitlines()
                         if " ready: " in line)
            startup[name] = log_time(ready) - spawned
        wait_for(lambda: all(fed.ws.connections(n) for n in fed.host_names), 10, "connections")
        fed.wait_for_answer(fed.say("count -1"), 20)
        settle(fed)
        rss_start = {n: rss_kb(fed.procs[n].pid) for n in fed.host_names}
        started = time.time()
        curve = [(0, statistics.mean(rss_start.values()))]
        for n in range(commands):
            wait_for(lambda k=n: len(run_counts(runs)) >= k - in_flight, 60,
                     "commands to finish", interval=0.005)
            fed.say(f"count {n}")
            if (n + 1) % 250 == 0:
                curve.append((n + 1, statistics.mean(rss_kb(fed.procs[h].pid)
                                                     for h in fed.host_names)))
        wait_for(lambda: len(run_counts(runs)) >= commands + 1, 120, "every command to run")
        settle(fed, 60)
        seconds = time.time() - started
        counts = run_counts(runs)
        rss_end = {n: rss_kb(fed.procs[n].pid) for n in fed.host_names}
    return {"hosts": hosts, "commands": commands, "preferred": preferred,
            "startup_s": startup, "startup_mean_s": statistics.mean(startup.values()),
            "rss_start_kb": rss_start, "rss_end_kb": rss_end, "seconds": seconds,
            "rss_curve_kb": curve,
            "ran_twice": sum(1 for c in counts.values() if c > 1),
            "lost": sum(1 for n in range(commands) if not counts.get(n))}
