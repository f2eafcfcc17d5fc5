"""The lock under partial failures, with real `troupe run` processes (issue 19).

Library-level cases are in tests/slackmq/test_slackmq_unclear.py.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from troupe.testing import Federation, wait_for

PLUGINS = Path(__file__).parent / "plugins"
pytestmark = pytest.mark.multihost


def runs(path: Path, kind: str = "count") -> collections.Counter:
    if not path.exists():
        return collections.Counter()
    return collections.Counter(
        int(line.split()[1]) for line in path.read_text().splitlines()
        if line.startswith(kind + " "))


def probe(tmp_path: Path, hosts: int, **kwargs) -> tuple[Federation, Path]:
    log = tmp_path / "runs.log"
    fed = Federation(tmp_path / "fed", hosts, plugins=["probe"], plugin_paths=[PLUGINS],
                     config={"probe": {"log": str(log)}}, **kwargs)
    return fed, log


def test_a_lost_answer_to_the_pin_still_runs_the_command_once(tmp_path):
    """Case 7: the claimer's pins.add reached Slack, its answer became a 500. The Pi's lock
    reads the pins, finds its own fresh pin and runs the command: no "someone else has
    it", no takeover report after the lease."""
    fed, log = probe(tmp_path, 2)
    with fed:
        fed.ws.fail_method("pins.add", mode="lost_answer", count=1)
        ts = fed.say("count 1")
        answer = fed.wait_for_answer(ts)
        assert answer["text"] == "counted 1"
        wait_for(lambda: not fed.ws.pins(), 10, "the claim to be released")
        assert runs(log) == {1: 1}
        assert [r["name"] for r in fed.ws.reactions(ts)] == ["white_check_mark"]
        assert not [m for m in fed.bot_messages(thread_ts=ts) if "stopped answering" in m["text"]]


def test_a_pi_whose_clock_is_six_minutes_fast_still_runs_commands_and_says_so(tmp_path):
    """Case 6: a command's age is measured on Slack's clock (learnt from the Date of
    Slack's answers), not the Pi's; `status` names the skew."""
    fed, log = probe(tmp_path, 1, env={"TROUPE_CLOCK_SKEW": "360"})
    with fed:
        posted = [fed.say(f"count {n}") for n in range(3)]
        for ts in posted:
            assert fed.wait_for_answer(ts)["text"].startswith("counted")
        assert runs(log) == {0: 1, 1: 1, 2: 1}
        ts = fed.say("status")
        status = fed.wait_for_answer(ts)["text"]
        assert "clock is 6 min ahead of Slack's" in status, status
        assert "6 min ahead of Slack's" in fed.log("pi-1")


def test_a_slow_holder_taken_over_leaves_one_report_and_no_second_marker(tmp_path):
    """Case 9: a toggle held past the lease (the holder alive, hung). It renews its claim
    for 3 leases; then a taker reports it once, as not finished (the heartbeats said the
    holder was alive), not as "stopped answering"; every other Pi posts at most one
    takeover reply; when the holder finishes late it adds no white_check_mark next to the
    taker's warning and removes no pin."""
    fed, log = probe(tmp_path, 3)
    with fed:
        ts = fed.say("hold 1")
        wait_for(lambda: runs(log, "start"), 20, "a Pi to start the command")
        report = wait_for(lambda: [m for m in fed.bot_messages(thread_ts=ts)
                                   if "may or may not have happened" in m["text"]],
                          60, "a takeover report")  # after its heartbeats stop (3 leases)
        assert "did not finish `hold 1` within the lease" in report[0]["text"]  # alive: slow
        wait_for(lambda: "warning" in [r["name"] for r in fed.ws.reactions(ts)], 10,
                 "the taker's warning")
        Path(str(log) + ".release").touch()
        wait_for(lambda: runs(log, "finish"), 20, "the slow holder to finish")
        wait_for(lambda: [m for m in fed.answers_to(ts) if m["text"] == "held 1"],
                 20, "the holder's answer")
        assert runs(log, "start") == {1: 1}
        assert [r["name"] for r in fed.ws.reactions(ts)] == ["warning"]
        assert len(report) == 1
        bids = collections.Counter(m.get("user") for m in fed.ws.messages(thread_ts=ts)
                                   if m.get("text", "").startswith("slackmq-takeover"))
        assert bids and max(bids.values()) == 1, bids

