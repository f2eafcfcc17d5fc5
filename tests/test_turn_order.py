"""Issue 19: a sequential command's turns never overlap, even when someone removes the pin.

Real `troupe run` processes: anyone in the channel can remove a pin (a person, another
app). The Pi in its turn keeps going; the others find its turn still open in the thread
(no marker, renewed by heartbeats) and wait, and each goes once the one before it is done.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from slack_sdk import WebClient

from troupe.testing import Federation, wait_for

PLUGINS = Path(__file__).parent / "plugins"
LEASE = 5  # the Federation's [troupe] lease
pytestmark = pytest.mark.multihost


def events(log: Path) -> list[tuple[str, str]]:
    """("start" | "end", host) in the order the Pis wrote them."""
    if not log.exists():
        return []
    return [(w[0], w[2]) for w in (line.split() for line in log.read_text().splitlines())]


def test_a_pin_removed_by_a_person_starts_no_second_turn(tmp_path):
    log = tmp_path / "queue.log"
    fed = Federation(tmp_path / "fed", 3, plugins=["turnqueue"], plugin_paths=[PLUGINS],
                     config={"turnqueue": {"log": str(log)}})
    with fed:
        ts = fed.say("queue 1")
        wait_for(lambda: events(log), 20, "the first turn to start")
        first = events(log)[0][1]
        for host in fed.host_names:  # the others' turns are short
            if host != first:
                Path(f"{log}.release-{host}").touch()
        wait_for(lambda: [p for p in fed.ws.pins() if p["message"]["ts"] == ts], 10,
                 "the first turn's pin")
        person = WebClient(token=fed.ws.user["token"], base_url=fed.ws.api_url)
        person.pins_remove(channel=fed.ws.channel_id, timestamp=ts)
        # The others see the pin go and pin it, but find the first turn still open, so they
        # wait. The first Pi stays in its turn for two leases, renewing it: no second turn
        # starts, and nobody reports it as stopped.
        end = time.monotonic() + 2 * LEASE
        while time.monotonic() < end:
            assert events(log) == [("start", first)], events(log)
            time.sleep(0.1)
        assert sum("turn is still open" in fed.log(h) for h in fed.host_names) == 2
        Path(f"{log}.release-{first}").touch()
        wait_for(lambda: len(events(log)) == 6, 60, "every Pi's turn")
        got = events(log)
        assert got[0] == ("start", first) and got[1] == ("end", first)
        assert [kind for kind, _ in got] == ["start", "end"] * 3, got  # never two at once
        assert sorted(h for kind, h in got if kind == "start") == fed.host_names  # once each
        wait_for(lambda: not fed.ws.pins(), 20, "the last turn to be released")
        marks = [r for r in fed.ws.reactions(ts) if r["name"] == "white_check_mark"]
        assert len(marks) == 1 and len(marks[0]["users"]) == 3
        texts = " ".join(m.get("text", "") for m in fed.bot_messages(thread_ts=ts))
        assert "stopped answering" not in texts and "did not finish" not in texts
