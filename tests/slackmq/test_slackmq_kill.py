"""Workers killed (SIGKILL) while holding a claim: another takes over after the lease.

Over 10 kills a non-idempotent command never runs twice, and every command ends
done, failed or interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from slackmq_helpers import wait_until

WORKER = str(Path(__file__).with_name("slackmq_worker.py"))
LEASE = 1.0


def lines(path):
    try:
        return [line.split() for line in Path(path).read_text().splitlines()]
    except FileNotFoundError:
        return []


def test_ten_killed_holders_each_command_ends_once(ws16, tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    logf = str(tmp_path / "log")
    msgs = [ws16.post(f"toggle light {i}") for i in range(10)]
    idem = msgs[:3]  # "lights off" style commands; the rest are toggles
    marked = msgs[3]  # this holder dies after recording done, before unpinning
    holders, takers = [], []
    for i, ts in enumerate(msgs):
        args = [sys.executable, WORKER, "hold", ws16.api_url, ws16.apps[i]["bot_token"]]
        args += [ws16.channel_id, logf, ts] + (["die_after_mark"] if ts == marked else [])
        holders.append(subprocess.Popen(args, env=env))
    try:
        wait_until(
            lambda: sum(1 for w in lines(logf) if w[0] == "holding") == 10,
            timeout=30,
            what="10 holders holding",
        )
        for p in holders:
            p.send_signal(signal.SIGKILL)
        for p in holders:
            p.wait(timeout=10)
        assert len([p for p in ws16.pins() if p["message"]["ts"] in msgs]) == 10
        for i in range(10, 13):
            args = [sys.executable, WORKER, "take", ws16.api_url, ws16.apps[i]["bot_token"]]
            args += [ws16.channel_id, logf, str(LEASE), ",".join(idem), ",".join(msgs)]
            takers.append(subprocess.Popen(args, env=env))
        for p in takers:
            assert p.wait(timeout=60) == 0
    finally:
        for p in holders + takers:
            if p.poll() is None:
                p.kill()
    log = lines(logf)
    exits = [w for w in log if w[0] == "exit"]
    assert len(exits) == 3 and all(w[1] == "pending=0" for w in exits), exits
    runs = Counter(w[1] for w in log if w[0] == "run")
    interrupted = Counter(w[1] for w in log if w[0] == "interrupted")
    for ts in msgs:
        outcomes = {r["name"] for r in ws16.reactions(ts)}
        if ts == marked:
            assert runs[ts] == 1 and interrupted[ts] == 0 and outcomes == {"white_check_mark"}
        elif ts in idem:
            assert runs[ts] == 2 and outcomes == {"white_check_mark"}  # re-run: idempotent
        else:
            assert runs[ts] == 1, (ts, runs[ts])  # the toggle never ran twice
            assert interrupted[ts] == 1 and outcomes == {"warning"}
        assert outcomes & {"white_check_mark", "x", "warning"}
    assert not [p for p in ws16.pins() if p["message"]["ts"] in msgs]
