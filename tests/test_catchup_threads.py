"""Catch-up reads recent threads: a broadcast step a scene posted in its thread while a Pi
was away is run by that Pi when it is back (no pin marks a broadcast, so pins.list cannot
find it; tests/chaos.py found Pis killed just after such a post never ran it)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from troupe.testing import Federation, wait_for

PLUGINS = Path(__file__).parent / "plugins"
pytestmark = pytest.mark.multihost


def pings(log: Path) -> list[str]:
    """The hosts that ran `ping 7`, one entry a run."""
    if not log.exists():
        return []
    return [line.split()[2] for line in log.read_text().splitlines() if line.startswith("ping 7 ")]


def test_a_broadcast_step_posted_in_a_thread_while_a_pi_was_away_runs_when_it_is_back(
        tmp_path):
    log = tmp_path / "runs.log"
    fed = Federation(tmp_path / "fed", 2, plugins=["scenes", "probe"], plugin_paths=[PLUGINS],
                     config={"probe": {"log": str(log)},
                             "scenes": {"wake": {"steps": ["ping 7"]}}})
    with fed:
        # The envelopes pi-2 misses are not kept for it past a second (as when a Pi was
        # killed after acknowledging one, or was away longer than Slack retries): only
        # catch-up can find the step.
        fed.ws.server.hub.hold_limit = 1.0
        fed.stop_host("pi-2")
        ts = fed.say("scene wake")
        wait_for(lambda: pings(log) == ["pi-1"], 20, "pi-1 to run the step")
        step = next(m for m in fed.bot_messages(thread_ts=ts) if m["text"] == "ping 7")
        wait_for(lambda: not fed.ws.pins(), 10, "every claim released")
        posted = float(step["ts"])
        wait_for(lambda: time.time() > posted + 1.5, 5, "pi-2's envelopes to expire")
        fed.start_host("pi-2")
        wait_for(lambda: sorted(pings(log)) == ["pi-1", "pi-2"], 20, "pi-2 to catch up")
        wait_for(lambda: len(fed.ws.reactions(step["ts"])[0]["users"]) == 2, 10, "both marks")
        assert sorted(pings(log)) == ["pi-1", "pi-2"]
