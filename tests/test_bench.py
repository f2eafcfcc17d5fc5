"""`make bench` smoke tests: the harness runs at tiny sizes and writes its report; the
preferred-claims switch it measures keeps every command to one run and one pins.add."""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import pytest

from troupe.ranking import Ranking, preferred_window
from troupe.testing import wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ lives beside tests/
from bench import latency, lock, report  # noqa: E402
from bench.common import percentile, probe_federation, run_counts, settle  # noqa: E402


def test_percentiles_are_nearest_rank():
    values = [0.1 * i for i in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(5.0)
    assert percentile(values, 99) == pytest.approx(9.9)
    assert percentile(values, 100) == pytest.approx(10.0)
    assert percentile([3.0], 95) == 3.0


def test_preferred_window_comes_from_the_switch():
    assert preferred_window("") == 0.0 and preferred_window("0") == 0.0
    assert preferred_window("1") == 0.5 and preferred_window("true") == 0.5
    assert preferred_window("0.25") == 0.25
    assert preferred_window("soon") == 0.0


class Members:
    """conversations.members and users.info, as a WebClient answers them."""

    def __init__(self, bots: list[str], people: list[str]) -> None:
        self.bots, self.people, self.calls = bots, people, collections.Counter()

    def conversations_members(self, **kwargs):
        self.calls["conversations.members"] += 1
        return {"members": self.people + self.bots}

    def users_info(self, user: str):
        self.calls["users.info"] += 1
        return {"user": {"id": user, "is_bot": user in self.bots}}


def test_every_pi_computes_the_same_order_and_skips_suspects():
    bots = ["UB1", "UB2", "UB3", "UB4"]
    client = Members(bots, ["UHUMAN"])
    rankings = [Ranking(client, "C1", lambda me=me: me) for me in bots]
    orders = {tuple(r.order("1700000000.000100")) for r in rankings}
    assert len(orders) == 1 and sorted(next(iter(orders))) == bots  # people are not ranked
    firsts = collections.Counter(rankings[0].order(f"17000000{i:02d}.000100")[0]
                                 for i in range(100))
    assert set(firsts) == set(bots)  # the work is spread
    calls = sum(client.calls.values())
    rankings[0].order("1.5")
    assert sum(client.calls.values()) == calls  # members are cached: no call per message
    first = rankings[1].order("2.5")[0]
    other = next(b for b in bots if b not in (first, "UB2"))
    ranking = rankings[bots.index(other)]
    ranking.suspect([first])
    assert first not in ranking.order("2.5")
    ranking.alive(first)
    assert ranking.order("2.5")[0] == first
    ranking.suspect([first])
    ranking.seen_ahead("2.5")  # it lost a claim it thought it was first for
    assert ranking.order("2.5")[0] == first


def test_a_pi_in_its_turn_of_a_sequence_is_skipped_by_the_others_and_ranks_itself_last():
    bots = ["UB1", "UB2", "UB3"]
    client = Members(bots, [])
    ts = next(f"17000000{i:02d}.000100" for i in range(100)
              if Ranking(client, "C1", lambda: "UB1").order(f"17000000{i:02d}.000100")[0]
              == "UB1")
    others = [Ranking(client, "C1", lambda me=me: me) for me in ("UB2", "UB3")]
    itself = Ranking(client, "C1", lambda: "UB1")
    for ranking in [*others, itself]:
        ranking.away("UB1", "9.000001")  # UB1 pinned the sequence at 9.000001: its turn
    assert all("UB1" not in r.order(ts) for r in others)
    assert len({tuple(r.order(ts)) for r in others}) == 1  # the others still agree
    assert itself.order(ts)[-1] == "UB1"
    assert itself.order(ts, suspects=True)[0] == "UB1"
    for ranking in [*others, itself]:
        ranking.back("9.000001")
    assert all(r.order(ts)[0] == "UB1" for r in [*others, itself])


@pytest.mark.multihost
def test_latency_section_runs_and_reports(tmp_path):
    row = latency.measure(tmp_path / "lat", 2, latency_ms=0, commands=2)
    assert row["answer"]["n"] == 2 and 0 < row["answer"]["p50"] < 5000
    assert 0 < row["device"]["p50"] <= row["answer"]["p99"] + 1000
    assert row["calls"]["pins.add"] >= 2.0  # preferred claims off: every Pi claims each command
    results = {"machine": {"cpu": "x", "cores": 2, "memory": "1 GiB", "os": "linux",
                           "python": "3.11", "versions": {"troupe": "0"}, "load": "0 0 0",
                           "date": "today"},
               "seed": 1, "quick": True, "seconds": 1.0, "load_after": "0 0 0",
               "latency": [row], "rolling": {"status": "not measured", "reason": "later"}}
    text = report.markdown(results)
    assert "## Command latency" in text and "| 2 | 0 | every Pi | 2 |" in text
    assert "Not measured: later." in text
    pytest.importorskip("matplotlib")
    assert report.plot(results, tmp_path / "latency.png")
    assert (tmp_path / "latency.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.multihost
def test_preferred_claims_one_pin_per_command_with_a_pi_dead(tmp_path):
    with probe_federation(tmp_path, 3, preferred=0.3) as (fed, runs):
        fed.kill("pi-3")  # still a member of the channel: first in line for some messages
        before = fed.ws.call_counts()
        posted = [fed.say(f"count {n}") for n in range(8)]
        wait_for(lambda: len(run_counts(runs)) == 8, 30, "every command to run")
        for ts in posted:
            fed.wait_for_answer(ts)
        settle(fed)
        after = fed.ws.call_counts()
    assert run_counts(runs) == {n: 1 for n in range(8)}
    pins = sum(after[h].get("pins.add", 0) - before.get(h, {}).get("pins.add", 0)
               for h in ("pi-1", "pi-2"))
    assert pins <= 8 + 2  # without preferred claims both live Pis pin every command: 16
    assert fed.log("pi-1").count("in line") + fed.log("pi-2").count("in line") >= 1


def test_bench_cli_rejects_unknown_sections(capsys):
    from bench.__main__ import main

    with pytest.raises(SystemExit):
        main(["--only", "latency,nonsense"])
    assert "unknown section(s) nonsense" in capsys.readouterr().err


def test_lock_bench_runs_and_reports_calls(capsys):
    assert lock.main(["--no-old", "--reps", "3", "--latency-ms", "10"]) == 0
    out = capsys.readouterr().out
    rows = {line[:44].strip(): line.split() for line in out.splitlines()[2:]}
    assert rows["slackmq 0.2    claim (won)"][-3] == "2.0"
    assert rows["slackmq 0.2    claim+done+release"][-3] == "4.0"
    assert rows["slackmq 0.2    claim (lost)"][-3] == "1.0"
    assert rows["0.2 retain     claim (won)"][-3] == "1.0"
    assert rows["0.2 retain     claim+done+release"][-3] == "2.0"



@pytest.mark.multihost
def test_preferred_claims_never_answer_nobody_for_a_command_one_live_pi_can_run(tmp_path):
    """The Pi that can run it may be last in line; the others must not answer for it.

    A window of 1.5 s: without the longer wait of the Pis that cannot run it, the third
    in line (3 s) would be beaten by their no_taker_wait (2 s)."""
    with probe_federation(tmp_path, 3, preferred=1.5) as (fed, runs):
        posted = {n: fed.say(f"only {fed.host_names[n % 3]} {n}") for n in range(6)}
        answers = {n: fed.wait_for_answer(ts, 20)["text"] for n, ts in posted.items()}
        settle(fed)
    assert answers == {n: f"only {n}" for n in range(6)}
    assert run_counts(runs, "only") == {n: 1 for n in range(6)}


@pytest.mark.multihost
def test_a_pi_holding_its_turn_of_a_sequence_steps_out_of_line(tmp_path):
    """An update's turn ends in a restart. While a Pi holds its turn of a sequence the
    others skip it (no command waits a window for it) and it claims nothing at once."""
    with probe_federation(tmp_path, 3, preferred=1.0) as (fed, runs):
        fed.say("relay 1")
        wait_for(lambda: run_counts(runs, "relay") == {1: 1}, 20, "the first turn to start")
        holder = runs.read_text().split()[2]
        before = fed.ws.call_counts()
        posted = [fed.say(f"count {n}") for n in range(12)]
        for ts in posted:
            fed.wait_for_answer(ts, 20)
        after = fed.ws.call_counts()
        Path(str(runs) + ".release").touch()  # let the turn end before the Pis stop
        wait_for(lambda: run_counts(runs, "relayed").get(1), 20, "the first turn to end")
    assert run_counts(runs) == {n: 1 for n in range(12)}
    # Without stepping out it is first in line for about a third of them and pins those.
    assert after[holder].get("pins.add", 0) == before[holder].get("pins.add", 0)
    assert not any("number 3 in line" in fed.log(name) for name in fed.host_names
                   if name != holder)
