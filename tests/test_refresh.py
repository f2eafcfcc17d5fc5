"""Slack refreshes Socket Mode connections (`disconnect` / `refresh_requested`) and
`apps.connections.open` is Tier 1: a Pi keeps listening through refreshes (issue 17).

Each command's wait is measured on the emulator's clock: from the person's message being
posted to the Pi's answer being posted (both from the workspace's feed)."""

from __future__ import annotations

import collections
import threading
import time
from pathlib import Path

import pytest

from troupe.testing import Federation, wait_for

PLUGINS = Path(__file__).parent / "plugins"
pytestmark = pytest.mark.multihost


class Waits:
    """Posted and answered times of commands, from the emulator's feed."""

    def __init__(self) -> None:
        self.posted: dict[str, float] = {}
        self.answered: dict[str, float] = {}
        self.lock = threading.Lock()

    def __call__(self, item: dict) -> None:
        if item["type"] != "message_posted":
            return
        message = item["message"]
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        with self.lock:
            if message.get("bot_id") and payload.get("command_ts"):
                self.answered.setdefault(payload["command_ts"], item["time"])
            elif not message.get("bot_id"):
                self.posted[message["ts"]] = item["time"]

    def of(self, ts: list[str]) -> list[float]:
        with self.lock:
            return [self.answered[t] - self.posted[t] for t in ts]


def runs(path: Path) -> collections.Counter:
    if not path.exists():
        return collections.Counter()
    return collections.Counter(int(line.split()[1]) for line in path.read_text().splitlines()
                               if line.startswith("count "))


def serve_through(fed: Federation, log: Path, refresh: callable, commands: int,
                  every: float) -> list[float]:
    """Post `commands` commands `every` seconds apart while `refresh(n)` runs before the
    n-th; return each command's wait. Every command must run exactly once."""
    waits = Waits()
    fed.ws.add_listener(waits, ["message_posted"])
    posted = []
    for n in range(commands):
        refresh(n)
        posted.append(fed.say(f"count {n}"))
        time.sleep(every)  # the pace of a person typing, not a wait for a condition
    wait_for(lambda: len(runs(log)) == commands, 90, "every command to run")
    wait_for(lambda: all(t in waits.answered for t in posted), 20, "every answer")
    assert runs(log) == {n: 1 for n in range(commands)}  # nothing lost, nothing twice
    return waits.of(posted)


def test_a_refresh_with_no_connection_left_to_open_does_not_deafen_the_pi(tmp_path):
    """Real rate limits: the Pi's two connections spent Tier 1's burst, so the refreshed
    connection cannot be replaced for about a minute (429); the spare hears everything."""
    log = tmp_path / "runs.log"
    fed = Federation(tmp_path / "fed", 1, plugins=["probe"], plugin_paths=[PLUGINS],
                     config={"probe": {"log": str(log)}, "troupe": {"spare_connection": 0}},
                     rate_limits="real")
    with fed:
        wait_for(lambda: fed.ws.connections("pi-1") == 2, 20, "the spare connection")

        def refresh(n: int) -> None:
            if n == 2:
                threading.Thread(target=fed.ws.refresh, args=("pi-1",)).start()

        # One command a second: what chat.postMessage allows the answers (per channel).
        waits = serve_through(fed, log, refresh, commands=8, every=1.05)
        assert fed.ws.connections("pi-1") == 1  # the replacement is still waiting out a 429
        # Tier 1's burst is spent: the replacement waits (paced by the Pi, or told by a 429)
        opened = [c for c in fed.ws.log()["calls"]
                  if c["method"] == "apps.connections.open" and c["result"] != "429"]
        assert len(opened) == 2, opened
        assert max(waits) < 2.0, waits


def test_refreshes_every_second_and_a_half_lose_nothing(tmp_path):
    """A refresh every 1.5 s (no rate limits: Slack would not let anyone reopen that often):
    events spread over the two connections, none lost, none waiting long."""
    log = tmp_path / "runs.log"
    fed = Federation(tmp_path / "fed", 1, plugins=["probe"], plugin_paths=[PLUGINS],
                     config={"probe": {"log": str(log)}, "troupe": {"spare_connection": 0}},
                     refresh_every=1.5)
    with fed:
        wait_for(lambda: fed.ws.connections("pi-1") == 2, 20, "the spare connection")
        refreshed: list[dict] = []
        fed.ws.add_listener(refreshed.append, ["app_refreshed"])
        waits = serve_through(fed, log, lambda n: None, commands=30, every=0.3)
        assert len(refreshed) >= 4
        assert max(waits) < 2.0, waits
