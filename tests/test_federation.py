"""Several real `troupe run` processes serving one emulated workspace."""

from __future__ import annotations

import collections
import hashlib
import os
import platform
import sys
import time
from pathlib import Path

import pytest

from troupe.testing import Federation, wait_for

PLUGINS = Path(__file__).parent / "plugins"
pytestmark = pytest.mark.multihost


def runs(path: Path, kind: str = "count") -> collections.Counter:
    if not path.exists():
        return collections.Counter()
    lines = path.read_text().splitlines()
    return collections.Counter(
        int(line.split()[1]) for line in lines if line.startswith(kind + " "))


def probe_federation(tmp_path: Path, hosts: int, config: dict | None = None,
                     **kwargs) -> tuple[Federation, Path]:
    log = tmp_path / "runs.log"
    plugins = kwargs.pop("plugins", ["probe"])
    fed = Federation(tmp_path / "fed", hosts, plugins=plugins, plugin_paths=[PLUGINS],
                     config={"probe": {"log": str(log)}, **(config or {})}, **kwargs)
    return fed, log


def test_roll_call_is_one_answer_that_accounts_for_every_pi(tmp_path):
    """One Pi answers for the house from the boards (issue 13: one top-level message per
    command); every Pi is in it, with its version and how long it has been up."""
    with Federation(tmp_path, 3) as fed:
        ts = fed.say("roll call")
        answer = fed.wait_for_answer(ts)
        # Give a second answer every chance to show up: the claim is released once answered.
        wait_for(lambda: not fed.ws.pins() and fed.ws.reactions(ts), 10, "the claim to finish")
        assert [m["ts"] for m in fed.bot_messages(after=ts)] == [answer["ts"]]
        assert fed.bot_messages(thread_ts=ts) == []
        lines = answer["text"].splitlines()[1:]
        assert sorted(line.split(":")[0] for line in lines) == ["- pi-1", "- pi-2", "- pi-3"]
        assert all(": version " in line for line in lines), lines
        assert sum(" up " in line for line in lines) == 1  # the answering Pi's own
        assert sum(" started " in line for line in lines) == 2  # the others', by their boards
        answering = fed.host_of(answer)
        assert f"- {answering}: version" in answer["text"] and "(answering)" in answer["text"]


def test_roll_call_names_a_stopped_pi_from_its_board_even_when_it_was_first_in_line(
        tmp_path):
    """A Pi that stopped still shows its last board (a board cannot tell it is gone; the
    answer says when the board was last updated). A roll call whose first Pi in line is the
    stopped one is claimed by the next in line: still exactly one answer."""
    with Federation(tmp_path, 3) as fed:
        fed.kill("pi-1")
        pi1 = fed.ws.app("pi-1")["bot_user_id"]
        users = [fed.ws.app(name)["bot_user_id"] for name in fed.host_names]

        def first(ts: str) -> str:
            return max(users, key=lambda u: hashlib.blake2b(f"{ts}|{u}".encode(),
                                                            digest_size=8).digest())

        asked = []
        for _ in range(20):  # until one roll call's first in line is the dead pi-1
            asked.append(fed.say("roll call"))
            fed.wait_for_answer(asked[-1])
            if first(asked[-1]) == pi1:
                break
        assert first(asked[-1]) == pi1, "no roll call had pi-1 first in line"
        wait_for(lambda: not fed.ws.pins(), 10, "the claims to finish")
        for ts in asked:
            answers = fed.answers_to(ts)
            assert len(answers) == 1, [a["text"] for a in answers]
            assert fed.host_of(answers[0]) != "pi-1"
            assert "- pi-1: version " in answers[0]["text"]
            assert "board last updated" in answers[0]["text"]
        assert len(fed.bot_messages(after=asked[0])) == len(asked)


def marked_by(fed: Federation, ts: str) -> list[str]:
    return sorted(name for r in fed.ws.reactions(ts) if r["name"] == "white_check_mark"
                  for name in fed.host_names if fed.ws.app(name)["bot_user_id"] in r["users"])


@pytest.mark.parametrize("command", ["debug on", "target all", "target pi-3"])
def test_a_setting_every_pi_applies_gets_one_answer_naming_them(tmp_path, command):
    """Every Pi applies it and marks it done; one answer at top level names them, nothing in
    the thread (issue 13). With a Pi gone, the answer names it; when the gone Pi was the one
    to answer (first in line, or the one targeted), the next in line answers instead."""
    with Federation(tmp_path, 3) as fed:
        ts = fed.say(command)
        answer = fed.wait_for_answer(ts)
        wait_for(lambda: marked_by(fed, ts) == ["pi-1", "pi-2", "pi-3"], 10, "three markers")
        assert "Applied by pi-1, pi-2, pi-3" in answer["text"]
        assert [m["ts"] for m in fed.bot_messages(after=ts)] == [answer["ts"]]
        assert fed.bot_messages(thread_ts=ts) == []
        if command == "target pi-3":
            assert fed.host_of(answer) == "pi-3"

        fed.stop_host("pi-3")
        again = fed.say(command)
        answer = fed.wait_for_answer(again)
        wait_for(lambda: marked_by(fed, again) == ["pi-1", "pi-2"], 10, "two markers")
        assert "Applied by pi-1, pi-2; no done marker within 3 s from pi-3" in answer["text"]
        # Both Pis' markers are there: their handlers have returned, any answer is posted.
        assert [m["ts"] for m in fed.bot_messages(after=again)] == [answer["ts"]]


def test_exclusive_command_runs_once_and_answers_once(tmp_path):
    fed, log = probe_federation(tmp_path, 3)
    with fed:
        ts = fed.say("count 7")
        fed.wait_for_answer(ts)
        wait_for(lambda: not fed.ws.pins(), 10, "the claim to be released")
        assert runs(log) == {7: 1}
        assert len(fed.answers_to(ts)) == 1
        assert [r["name"] for r in fed.ws.reactions(ts)] == ["white_check_mark"]


def test_hundred_commands_run_exactly_once_while_a_pi_restarts(tmp_path):
    fed, log = probe_federation(tmp_path, 5)
    with fed:
        posted = []
        for n in range(100):
            posted.append(fed.say(f"count {n}"))
            if n == 30:
                fed.stop_host("pi-2")  # SIGTERM: finishes or releases what it holds
            if n == 60:
                fed.start_host("pi-2", wait=False)
        wait_for(lambda: len(runs(log)) == 100, 90, "all 100 commands to run")
        wait_for(lambda: not fed.ws.pins(), 30, "every claim to be released")
        counts = runs(log)
        assert set(counts) == set(range(100))
        assert max(counts.values()) == 1, {n: c for n, c in counts.items() if c > 1}
        hosts = {line.split()[2] for line in log.read_text().splitlines()}
        assert len(hosts) > 1  # the work was shared


def test_killed_pi_never_runs_a_command_twice(tmp_path):
    """SIGKILL mid-command: the command is reported as interrupted, not re-run."""
    fed, log = probe_federation(tmp_path, 3)
    with fed:
        ts = fed.say("hold 1")
        start = wait_for(lambda: runs(log, "start"), 20, "a Pi to start the command")
        holder = next(line.split()[2] for line in log.read_text().splitlines())
        fed.kill(holder)
        report = wait_for(
            lambda: [m for m in fed.bot_messages(thread_ts=ts) if "stopped answering" in m["text"]],
            40, "a takeover report")
        assert len(report) == 1
        Path(str(log) + ".release").touch()
        wait_for(lambda: not fed.ws.pins(), 20, "the pin to be released")
        assert runs(log, "start") == start == {1: 1}
        assert "warning" in [r["name"] for r in fed.ws.reactions(ts)]


@pytest.mark.parametrize("posted_by", ["person", "scene"])
def test_a_claim_in_a_thread_is_taken_over_after_every_watching_pi_restarted(tmp_path,
                                                                             posted_by):
    """The history read on reconnect shows no thread replies: a command claimed in a thread
    (typed there, or a scene's step for another Pi) whose holder died, while every Pi
    watching it restarted, is found again by its pin."""
    fed, log = probe_federation(tmp_path, 3,
                                config={"scenes": {"slow": {"steps": ["hold on pi-3 1"]}}},
                                plugins=["probe", "scenes"])
    with fed:
        if posted_by == "person":
            parent = fed.say("commands in this thread, please")
            ts = fed.say("hold 1", thread_ts=parent)
        else:
            # A scene's Pi runs what it can itself; a step only pi-3 can run is posted in the
            # scene's thread. pi-3 is away while the scene is claimed, so another Pi runs it.
            fed.kill("pi-3")
            parent = fed.say("scene slow")
            step = wait_for(lambda: [m for m in fed.bot_messages(thread_ts=parent)
                                     if m["text"] == "hold on pi-3 1"], 20, "the scene's step")
            ts = step[0]["ts"]
            fed.start_host("pi-3")
        wait_for(lambda: runs(log, "start"), 20, "a Pi to start the command")
        holder = next(line.split()[2] for line in log.read_text().splitlines())
        for name in fed.host_names:
            fed.kill(name)
        for name in fed.host_names:
            if name != holder:
                fed.start_host(name)
        report = wait_for(
            lambda: [m for m in fed.bot_messages(thread_ts=parent)
                     if "stopped answering" in m["text"]],
            40, "a takeover report")
        assert len(report) == 1
        assert runs(log, "start") == {1: 1}
        wait_for(lambda: "warning" in [r["name"] for r in fed.ws.reactions(ts)], 20,
                 "the interruption marked on the command")


def test_a_restarted_pi_does_not_rerun_a_broadcast_it_marked(tmp_path):
    """A broadcast posted before this process started may come live (Slack delivers what
    was held for a Pi, or delivers again): the Pi's own marker says it already ran it."""
    from slack_sdk import WebClient

    fed, log = probe_federation(tmp_path, 2)
    with fed:
        fed.kill("pi-1")  # Slack holds pi-1's events until it connects again
        ts = fed.say("ping 7")
        wait_for(lambda: "ping 7 pi-2" in log.read_text() if log.exists() else False, 20,
                 "pi-2 to run the broadcast")
        # pi-1's process before this one ran it and marked it, then died:
        pi1 = next(a for a in fed.ws.apps if a["name"] == "pi-1")
        WebClient(token=pi1["bot_token"], base_url=fed.ws.api_url).reactions_add(
            channel=fed.ws.channel_id, timestamp=ts, name="white_check_mark")
        fed.start_host("pi-1")
        fed.say("ping 8")
        wait_for(lambda: "ping 8 pi-1" in log.read_text(), 20, "pi-1 to run a later broadcast")
        assert "ping 7 pi-1" not in log.read_text()
        sent = [d for d in list(fed.ws.server.hub.recorder.deliveries)
                if d["app"] == "pi-1" and d["ts"] == ts and d["outcome"].startswith("sent")]
        assert sent, "the held event was not delivered live: this test would prove nothing"


def test_a_finished_command_left_pinned_is_unpinned_on_catch_up(tmp_path):
    """A Pi that marked a command done and died before unpinning it leaves a pin behind;
    the next Pi to read it from history gives the pin back and does not run it again."""
    from slack_sdk import WebClient

    fed, log = probe_federation(tmp_path, 2)
    with fed:
        for name in fed.host_names:
            fed.kill(name)
        ts = fed.say("count 5")
        pi1 = next(a for a in fed.ws.apps if a["name"] == "pi-1")
        web = WebClient(token=pi1["bot_token"], base_url=fed.ws.api_url)
        web.pins_add(channel=fed.ws.channel_id, timestamp=ts)  # pi-1 claimed it, ran it,
        web.reactions_add(channel=fed.ws.channel_id, timestamp=ts, name="white_check_mark")
        fed.start_host("pi-2")  # ... marked it done and lost power before unpinning
        wait_for(lambda: not fed.ws.pins(), 20, "the left-over pin to be given back")
        assert runs(log) == {}


def test_unauthorized_user_runs_nothing(tmp_path):
    fed, log = probe_federation(tmp_path, 3)
    with fed:
        mallory = fed.ws.add_user("mallory")
        ts = fed.say("count 1", user=mallory)
        wait_for(lambda: sum(c.get("chat.postEphemeral", 0)
                             for c in fed.ws.call_counts().values()) >= 1, 20,
                 "a refusal")
        ok = fed.say("count 2")
        fed.wait_for_answer(ok)
        assert runs(log) == {2: 1}
        assert sum(c.get("chat.postEphemeral", 0) for c in fed.ws.call_counts().values()) == 1
        assert not fed.ws.reactions(ts)  # a refusal costs no pin and no marker (issue 12)
        assert not [m for m in fed.answers_to(ts) if float(m["ts"]) < float(ok)]


def test_commands_posted_while_every_pi_was_down_run_once(tmp_path):
    fed, log = probe_federation(tmp_path, 3)
    with fed:
        for name in fed.host_names:
            fed.stop_host(name)
        posted = [fed.say(f"count {n}") for n in range(5)]
        fed.start()
        wait_for(lambda: len(runs(log)) == 5, 30, "the missed commands to run")
        wait_for(lambda: not fed.ws.pins(), 20, "claims released")
        assert runs(log) == {n: 1 for n in range(5)}
        assert all(len(fed.answers_to(ts)) >= 1 for ts in posted)


def test_failing_handler_answers_and_bot_keeps_serving(tmp_path):
    fed, log = probe_federation(tmp_path, 2)
    with fed:
        ts = fed.say("boom")
        answer = fed.wait_for_answer(ts)
        assert "failed" in answer["text"] and "kaboom" in answer["text"]
        assert "<@channel>" not in answer["text"] and "&lt;@channel&gt;" in answer["text"]
        wait_for(lambda: "x" in [r["name"] for r in fed.ws.reactions(ts)], 10, "failed marker")
        ok = fed.say("count 3")
        fed.wait_for_answer(ok)
        assert all(p.poll() is None for p in fed.procs.values())


def test_unknown_command_gets_one_did_you_mean(tmp_path):
    fed, _ = probe_federation(tmp_path, 3)
    with fed:
        ts = fed.say("cont 5")
        answer = fed.wait_for_answer(ts)
        assert "Did you mean" in answer["text"] and "count" in answer["text"]
        wait_for(lambda: fed.ws.reactions(ts), 10, "the answer to be marked")
        assert len(fed.answers_to(ts)) == 1


def test_command_only_one_pi_can_run_goes_to_that_pi(tmp_path):
    fed, log = probe_federation(tmp_path, 3)
    with fed:
        ts = fed.say("only pi-3 4")
        answer = fed.wait_for_answer(ts)
        assert fed.host_of(answer) == "pi-3"
        assert log.read_text().split() == ["only", "4", "pi-3"]
        fed.kill("pi-3")
        ts = fed.say("only pi-3 5")
        answer = fed.wait_for_answer(ts, timeout=30)
        assert "Nobody ran" in answer["text"]
        wait_for(lambda: fed.ws.reactions(ts), 10, "the answer to be marked")
        assert len(fed.answers_to(ts)) == 1


def test_check_reports_every_problem_by_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[slack]\nbot_token = "nope"\nchannel = 5\n[troupe]\nlease = -1\n[mystery]\n'
                   '[plugins]\nenabled = ["nosuch"]\n')
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("TROUPE_SLACK")}
    result = subprocess.run([sys.executable, "-m", "troupe", "check", "--config", str(bad)],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 2
    for key in ("slack.bot_token", "slack.app_token", "slack.channel", "troupe.lease",
                "mystery", "plugins.enabled"):
        assert key in result.stderr, key
    assert "nope" not in result.stderr  # a token's value never reaches the output


def test_run_with_a_refused_token_exits_with_a_clear_reason(tmp_path):
    import subprocess
    import sys

    from troupe.sim.slack import SlackWorkspace
    from troupe.testing import dump_toml

    with SlackWorkspace(apps=1) as ws:
        config = tmp_path / "pi.toml"
        config.write_text(dump_toml({"slack": {
            "bot_token": "xoxb-not-a-real-token-123", "app_token": ws.apps[0]["app_token"],
            "channel": "home", "api_url": ws.api_url},
            "federation": {"secret": "a-secret-every-pi-of-the-house-shares"}}))
        result = subprocess.run([sys.executable, "-m", "troupe", "run", "--config", str(config)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "invalid_auth" in result.stderr and "slack.bot_token" in result.stderr
    assert "not-a-real-token" not in result.stderr


def test_duplicated_and_delayed_deliveries_run_once(tmp_path):
    fed, log = probe_federation(tmp_path, 3)
    with fed:
        fed.ws.duplicate_events(True)
        fed.ws.set_event_delay(150)
        for n in range(10):
            fed.say(f"count {n}")
        wait_for(lambda: len(runs(log)) == 10, 40, "ten commands to run")
        wait_for(lambda: not fed.ws.pins(), 20, "claims released")
        assert runs(log) == {n: 1 for n in range(10)}


def test_cut_off_pi_comes_back_and_others_serve_meanwhile(tmp_path):
    fed, log = probe_federation(tmp_path, 2)
    with fed:
        fed.ws.cut_off("pi-1")
        other = fed.say("count 2")
        assert fed.host_of(fed.wait_for_answer(other)) == "pi-2"
        missed = fed.say("only pi-1 1")  # only pi-1 could run it: pi-2 says nobody did
        assert "Nobody ran" in fed.wait_for_answer(missed)["text"]
        fed.ws.restore("pi-1")
        ts = fed.say("only pi-1 3")
        answer = fed.wait_for_answer(ts, timeout=40)
        assert fed.host_of(answer) == "pi-1"
        wait_for(lambda: not fed.ws.pins(), 20, "claims released")
        assert runs(log, "only") == {3: 1}  # the answered one was not run late
        assert len(fed.answers_to(missed)) == 1


def test_restarted_pi_finishes_its_own_claim_without_waiting_for_the_lease(tmp_path):
    """A Pi that dies holding a claim and comes back reports it at once (lease: 60 s)."""
    fed, log = probe_federation(tmp_path, 2, config={"troupe": {"lease": 60}})
    with fed:
        ts = fed.say("hold 1")
        wait_for(lambda: runs(log, "start"), 20, "a Pi to start the command")
        holder = log.read_text().split()[2]
        fed.kill(holder)
        fed.start_host(holder)
        report = wait_for(
            lambda: [m for m in fed.answers_to(ts) if "stopped answering" in m["text"]],
            30, "the restarted Pi's report")
        assert [fed.host_of(m) for m in report] == [holder]
        wait_for(lambda: not fed.ws.pins(), 10, "the pin to be released")
        assert runs(log, "start") == {1: 1}


def test_pi_that_missed_a_sequential_command_takes_its_own_turn_on_return(tmp_path):
    """Another Pi's done marker does not finish a sequential command for this Pi."""
    fed, log = probe_federation(tmp_path, 2)
    with fed:
        fed.stop_host("pi-2")
        ts = fed.say("turn 1")
        wait_for(lambda: fed.ws.reactions(ts) and not fed.ws.pins(), 20, "pi-1's turn to end")
        assert runs(log, "turn") == {1: 1}
        # Slack holds events for an app with no connection only a while: pi-2 has been away
        # too long, so it learns of the command from history alone (as it does after a
        # longer outage), with pi-1's marker on it.
        fed.ws.server.hub.hold_limit = 0.0
        fed.start_host("pi-2")
        wait_for(lambda: [r for r in fed.ws.reactions(ts) if len(r["users"]) == 2], 20,
                 "pi-2's turn, on catch-up")
        wait_for(lambda: not fed.ws.pins(), 10, "pi-2's turn to be released")
        assert sorted(line.split()[2] for line in log.read_text().splitlines()) == [
            "pi-1", "pi-2"]
        assert not [d for d in fed.ws.log()["deliveries"] if d["app"] == "pi-2"
                    and d["ts"] == ts and d["outcome"].startswith("sent")]


def test_restart_asked_for_in_a_turn_the_guard_runs_later_restarts_the_pi(tmp_path):
    """A turn that comes free is run by the guard's watch thread; a restart asked for there
    exits 75 keeping the claim, and the restarted process finishes the turn."""
    fed, log = probe_federation(tmp_path, 2)
    with fed:
        ts = fed.say("relay 1")
        wait_for(lambda: runs(log, "relay") == {1: 1}, 20, "the first turn to start")
        first = log.read_text().split()[2]
        second = next(name for name in fed.host_names if name != first)
        Path(str(log) + ".release").touch()
        wait_for(lambda: fed.procs[second].poll() is not None, 20, f"{second} to restart")
        assert fed.procs[second].returncode == 75
        second_id = fed.ws.app(second)["bot_user_id"]
        assert [p["created_by"] for p in fed.ws.pins()] == [second_id]  # the claim is kept
        fed.start_host(second)
        wait_for(lambda: runs(log, "relayed") == {1: 2}, 20, "the restarted Pi's turn")
        wait_for(lambda: not fed.ws.pins(), 10, "the turn to be released")
        assert {u for r in fed.ws.reactions(ts) for u in r["users"]} == {
            fed.ws.app(first)["bot_user_id"], second_id}


def test_takeover_costs_each_surviving_pi_one_look_at_the_pins(tmp_path):
    """A lost claim is watched until the holder's pin is surely older than the lease to
    slackmq (pins.list gives whole seconds), not a second earlier, when the look is wasted."""
    fed, log = probe_federation(tmp_path, 3)
    with fed:
        ts = fed.say("hold 1")
        wait_for(lambda: runs(log, "start"), 20, "a Pi to start the command")
        holder = log.read_text().split()[2]
        fed.kill(holder)
        killed = time.time()  # before: each Pi's pins.list when it caught up at start
        wait_for(lambda: "warning" in [r["name"] for r in fed.ws.reactions(ts)]
                 and not fed.ws.pins(), 40, "the takeover to be reported and released")
        # A survivor looks (pins.list) once and then stands for election, or never looks (the
        # other one finished first). A look a second too early finds the pin too young.
        looks = {name: 0 for name in fed.host_names if name != holder}
        for call in fed.ws.log()["calls"]:
            if call["app"] not in looks or looks[call["app"]] < 0 or call["time"] < killed:
                continue
            if call["method"] == "pins.list":
                looks[call["app"]] += 1
            elif call["method"] == "chat.postMessage" and str(
                    call["args"].get("text", "")).startswith("slackmq-takeover"):
                assert looks[call["app"]] == 1, (call["app"], looks)
                looks[call["app"]] = -1  # stood for election after one look
        assert all(n <= 1 for n in looks.values()), looks


def _deadline_exit(proc, seconds: float) -> float | None:
    """Seconds until `proc` exited, or None if it did not within `seconds`."""
    import subprocess
    import time

    start = time.monotonic()
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        return None
    return time.monotonic() - start


def test_sigterm_stops_a_pi_in_well_under_a_second(tmp_path):
    """Stopping used to wait out slack_sdk's 3 s socket receive timeout (and a 1 s queue
    poll) in the Socket Mode client's close()."""
    import signal

    fed, _ = probe_federation(tmp_path, 2)
    with fed:
        ts = fed.say("count 1")
        fed.wait_for_answer(ts)
        wait_for(lambda: not fed.ws.pins(), 10, "the claim to be released")
        proc = fed.procs["pi-1"]
        proc.send_signal(signal.SIGTERM)
        took = _deadline_exit(proc, 10)
        assert took is not None and took < 1.0, took
        assert proc.returncode == 0
        assert "error" not in fed.log("pi-1", since_start=True).lower()


TGKILL = {"x86_64": 234, "aarch64": 131}  # syscall numbers, Linux


@pytest.mark.skipif(not (sys.platform == "linux" and platform.machine() in TGKILL),
                    reason="signals one thread with Linux's tgkill")
def test_sigterm_that_lands_on_another_thread_still_stops_the_pi(tmp_path):
    """The kernel may hand a process's SIGTERM to any thread; CPython runs the handler in
    the main thread, which used to sleep through it (the Pi then ran until SIGKILL)."""
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    fed, _ = probe_federation(tmp_path, 1)
    with fed:
        proc = fed.procs["pi-1"]
        threads = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]
        assert libc.syscall(TGKILL[platform.machine()], proc.pid, threads[0],
                            signal.SIGTERM) == 0
        took = _deadline_exit(proc, 10)
        assert took is not None, "the Pi did not stop"
        assert proc.returncode == 0


def test_the_fixture_never_runs_two_processes_for_one_pi(tmp_path):
    """A second `troupe run` for one app would take its events unseen and outlive the test."""
    with Federation(tmp_path, 1) as fed:
        pid = fed.procs["pi-1"].pid
        with pytest.raises(RuntimeError, match="pi-1 is already running"):
            fed.start_host("pi-1")
        fed.start()  # starts only the hosts that are not running
        assert fed.procs["pi-1"].pid == pid
        assert fed.ws.connections("pi-1") == 1
