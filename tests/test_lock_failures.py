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


def test_a_takeover_does_not_rerun_a_command_a_newer_one_on_its_device_follows(tmp_path):
    """Case 4: `put lamp on` (idempotent) hangs on its Pi past the lease; `put lamp off`
    comes meanwhile. The taker does not run "on" again (that would undo "off"): it
    reports it, and "off" runs."""
    log = tmp_path / "runs.log"
    fed = Federation(tmp_path / "fed", 3, plugins=["slowdevice"], plugin_paths=[PLUGINS],
                     config={"slowdevice": {"log": str(log)}})

    def lines() -> list[str]:
        return log.read_text().splitlines() if log.exists() else []

    with fed:
        on = fed.say("put lamp on")
        wait_for(lambda: [x for x in lines() if x.startswith("start lamp on")], 20,
                 "a Pi to start `put lamp on`")
        fed.say("put lamp off")
        report = wait_for(lambda: [m for m in fed.bot_messages(thread_ts=on)
                                   if "may or may not have happened" in m["text"]],
                          60, "the takeover's report")
        wait_for(lambda: [x for x in lines() if x.startswith("put lamp off")], 30,
                 "`put lamp off` to run")
        assert [r["name"] for r in fed.ws.reactions(on)] == ["warning"]
        Path(str(log) + ".release").touch()
        wait_for(lambda: [m for m in fed.answers_to(on) if m["text"] == "lamp is on"], 20,
                 "the hung holder to finish")
        assert len(report) == 1
        ran_on = [x for x in lines() if x.startswith("put lamp on")]
        assert len(ran_on) == 1, lines()  # the hung holder only: no re-run by the taker


def test_a_broadcast_whose_marker_failed_is_not_run_again_after_a_restart(tmp_path):
    """Case 5: pi-1 runs a broadcast, but Slack answers 5xx to its marker past the
    client's retries; pi-1 restarts. Its record on disk (made before it ran) keeps it from
    running the broadcast again; the marker is tried again until it is on the message."""
    fed, log = probe(tmp_path, 2)
    with fed:
        fed.ws.fail_method("reactions.add", mode="5xx", count=12, app="pi-1")
        ts = fed.say("ping 5")
        wait_for(lambda: runs(log, "ping") == {5: 2}, 20, "both Pis to run the broadcast")
        record = tmp_path / "fed" / "state" / "pi-1.broadcasts.json"
        assert ts in record.read_text()
        wait_for(lambda: "could not mark broadcast" in fed.log("pi-1"), 30,
                 "pi-1's marker to fail")
        fed.restart("pi-1")  # catch-up finds the broadcast without pi-1's marker
        fed.say("ping 6")  # a later broadcast: once pi-1 runs it, it has caught up
        wait_for(lambda: runs(log, "ping")[6] == 2, 20, "the next broadcast")
        assert runs(log, "ping")[5] == 2  # pi-1 ran it once, not again after its restart
        pi1 = fed.ws.app("pi-1")["bot_user_id"]
        wait_for(lambda: any(pi1 in r["users"] for r in fed.ws.reactions(ts)), 60,
                 "pi-1's marker, tried again")
        assert runs(log, "ping")[5] == 2
