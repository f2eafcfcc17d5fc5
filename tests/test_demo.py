"""`troupe demo` without a browser: its JSON API against real Pis, its house, and a clean Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import pytest

from troupe.demo.app import DEFAULT_PORT
from troupe.demo.chat import Chat, trail
from troupe.demo.configs import checked_plugin_config
from troupe.demo.hosts import Pi
from troupe.demo.house import House
from troupe.demo.testing import DemoProcess
from troupe.demo.updates import UpdateSteps
from troupe.testing import wait_for

pytestmark = pytest.mark.multihost


# ---- pieces, no processes ------------------------------------------------------------

def texts(events: list[dict], pinned_by: str | None = None) -> list[tuple[str, str]]:
    return [(s["text"], s["tone"]) for s in trail(events, pinned_by)]


def test_trail_tells_who_ran_a_command_and_who_came_late():
    events = [{"by": "pi-1", "what": "pinned"},
              {"by": "pi-1", "what": "marked", "outcome": "done"},
              {"by": "pi-1", "what": "unpinned"},
              {"by": "pi-2", "what": "pinned"},
              {"by": "pi-2", "what": "unpinned"}]
    assert texts(events) == [("pi-1 claimed · done · unpinned", "done"),
                             ("pi-2 pinned late · saw it done · unpinned", "late")]
    assert texts(events[:1], "pi-1") == [("pi-1 claimed it · running", "claim")]


def test_trail_tells_a_takeover_and_a_broadcast():
    takeover = [{"by": "pi-3", "what": "pinned"},
                {"by": "pi-1", "what": "marked", "outcome": "interrupted"},
                {"by": "pi-1", "what": "unpinned"}]
    assert texts(takeover) == [("pi-3 claimed · did not finish", "failed"),
                               ("pi-1 took over · reported it interrupted", "interrupted")]
    roll_call = [{"by": f"pi-{i}", "what": "marked", "outcome": "done"} for i in (2, 1)]
    assert texts(roll_call) == [("done · pi-2, pi-1", "done")]


def test_chat_names_authors_links_answers_and_explains_takeover_bids():
    apps = [{"name": "pi-1", "bot_id": "B1", "bot_user_id": "U1"},
            {"name": "pi-2", "bot_id": "B2", "bot_user_id": "U2"}]
    chat = Chat({"id": "UP", "name": "person"}, apps)
    chat.apply({"type": "message_posted", "message": {"ts": "1.0", "user": "UP",
                                                      "text": "toggle a &lt;b&gt; light"}})
    reply = {"event_type": "troupe_reply", "event_payload": {"command_ts": "1.0"}}
    chat.apply({"type": "message_posted", "message": {
        "ts": "2.0", "user": "U2", "bot_id": "B2", "thread_ts": "1.0",
        "text": "<@U1> stopped answering while running `x`"}}, reply)
    bid = {"ts": "1.5", "user": "U2", "bot_id": "B2", "thread_ts": "1.0",
           "text": "slackmq-takeover U2 of U1@1700000000"}
    chat.apply({"type": "message_posted", "message": bid})
    events = chat.apply({"type": "pin_added", "ts": "1.0", "by": "U1"})
    command, answer, protocol = (chat.messages[ts] for ts in ("1.0", "2.0", "1.5"))
    assert (command["author"], command["kind"], command["text"]) == ("you", "person",
                                                                      "toggle a <b> light")
    assert (answer["author"], answer["reply_to"], answer["parent"]) == ("pi-2", "1.0", "1.0")
    assert answer["text"].startswith("@pi-1 stopped answering")
    assert protocol["kind"] == "protocol" and "pi-2 bids to take over" in protocol["text"]
    chat.apply({"type": "message_posted", "message": {
        "ts": "1.2", "user": "U1", "bot_id": "B1", "thread_ts": "1.0",
        "text": "slackmq-heartbeat U1 on 1.0"}})
    beat = chat.messages["1.2"]
    assert beat["kind"] == "protocol" and beat["text"] == (
        "pi-1 is still working on it (slackmq heartbeat)")
    chat.apply({"type": "message_posted", "message": {
        "ts": "1.1", "user": "U1", "bot_id": "B1", "thread_ts": "1.0",
        "text": "slackmq-turn U1 on 1.0"}})
    turn = chat.messages["1.1"]
    assert turn["kind"] == "protocol" and turn["text"] == (
        "pi-1 takes its turn (slackmq sequence)")
    assert command["pinned_by"] == "pi-1"
    assert events[-1]["type"] == "activity" and "pi-1 pinned" in events[-1]["text"]
    firing = {"ts": "3.0", "user": "U1", "bot_id": "B1",
              "text": "fire schedule k3x9 2026-12-01T07:00:00+00:00 once: toggle dining light"}
    shown = chat.apply({"type": "message_posted", "message": firing})[0]["message"]
    assert shown["kind"] == "protocol" and shown["text"].endswith(": toggle dining light")


def test_update_steps_follow_the_plugins_posts_and_the_turns():
    steps = UpdateSteps(["pi-1", "pi-2"])

    def post(ts: str, text: str, kind: str = "pi", **payload: str) -> bool:
        return steps.on_message({"ts": ts, "text": text, "kind": kind}, payload)

    assert not post("1.0", "update to v0.2.0", "person")
    assert post("1.1", "Preparing v0.2.0 on every Pi", update="plan", to="v0.2.0")
    assert steps.under_way
    assert steps.steps == {"pi-1": "preparing v0.2.0: building, checking",
                           "pi-2": "preparing v0.2.0: building, checking"}
    assert post("1.2", "pi-2: v0.2.0 built and checked, ready", update="ready", host="pi-2")
    assert steps.steps["pi-2"] == "v0.2.0 built and checked, ready"
    assert post("1.3", "update rollout v0.2.0")
    assert steps.on_pin("1.3", "pi-1") and not steps.on_pin("1.0", "pi-2")
    assert steps.steps == {"pi-1": "its turn: switching to v0.2.0, restarting",
                           "pi-2": "ready; waiting for its turn to switch to v0.2.0"}
    assert post("1.4", "pi-1 now on v0.2.0 (took 4 s)", update="done", host="pi-1")
    assert steps.steps["pi-1"] == "now on v0.2.0 (took 4 s)"
    assert post("1.5", "Update done in 9 s: ...", update="summary", host="pi-2")
    assert steps.steps == {} and not steps.under_way
    post("2.0", "Preparing v0.3.0 on every Pi", update="plan", to="v0.3.0")
    assert post("2.1", "pi-1 cannot use v0.3.0: no such tag", update="unready", host="pi-1")
    assert steps.steps["pi-1"] == "cannot use v0.3.0: no such tag"
    assert post("2.2", "Not rolling out v0.3.0", update="halt", host="pi-2")
    assert not steps.under_way  # the page offers the update again
    assert steps.steps["pi-2"] == "update halted (the thread says why)"


def test_the_households_settings_pass_every_plugins_check(tmp_path):
    """If a plugin changes its settings, this fails (the demo would otherwise leave it out)."""
    house = House.detect(3, tmp_path)
    slack = {"apps": [{"name": f"pi-{i}", "bot_token": f"xoxb-{i}", "app_token": f"xapp-{i}"}
                      for i in (1, 2, 3)],
             "channel": {"name": "home"}, "api_url": "http://127.0.0.1:9/api/",
             "user": {"id": "U0PERSON"}}
    present = list(house.plugins)
    source = {"source": "git", "url": str(tmp_path / "releases.git"), "ref_pattern": "v*"}
    config, notes = checked_plugin_config(house, slack, {"address": "127.0.0.1:9",
                                                         "username": "x" * 40}, source)
    assert notes == []
    assert house.plugins == present
    for plugin in ("lights", "sensors", "scenes", "update"):
        if plugin in present:
            assert plugin in config


# ---- a running demo ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with DemoProcess(hosts=2, workdir=tmp_path_factory.mktemp("demo")) as running:
        running.wait_line("All 2 Pis online", 60)
        yield running


def test_the_page_and_state_show_the_pis_and_the_house(demo):
    state = demo.wait_online()
    assert [p["name"] for p in state["pis"]] == ["pi-1", "pi-2"]
    assert all(p["version"] and p["pid"] for p in state["pis"])
    assert {"dining", "lounge", "bedroom"} <= {light["key"] for light in state["house"]["lights"]}
    assert state["hints"] and state["hints"][0]["text"]
    status, _ = demo.request("GET", "/api/state")
    assert status == 200
    import urllib.request
    with urllib.request.urlopen(demo.url, timeout=10) as page:
        html = page.read().decode()
    assert "/static/demo.js" in html and "Troupe" in html


def test_a_toggle_gets_exactly_one_answer_and_switches_the_light(demo):
    before = demo.light(demo.wait_online(), "dining")["on"]
    ts = demo.post("/api/say", {"text": "toggle dining light"})["ts"]
    demo.wait_for(lambda s: (m := demo.message(s, ts)) and not m["pinned_by"]
                  and any(r["meaning"] == "done" for r in m["reactions"]), 20, "done and unpinned")
    state = demo.wait_for(lambda s: demo.light(s, "dining")["on"] is (not before) and s, 10,
                          "the dining light to switch")
    answers = demo.answers(state, ts)
    assert len(answers) == 1, answers
    assert answers[0]["author"] in ("pi-1", "pi-2")
    assert "dining light is" in answers[0]["text"]


def test_the_house_shows_a_switch_no_later_than_the_answer(demo):
    """The Hue emulator pushes its changes: once the page has the answer it has the light."""
    before = demo.light(demo.wait_online(), "lounge")["on"]
    ts = demo.post("/api/say", {"text": "toggle lounge light"})["ts"]
    state = demo.wait_for(lambda s: demo.answers(s, ts) and s, 20, "an answer")
    assert demo.light(state, "lounge")["on"] is (not before), demo.answers(state, ts)


def test_api_mistakes_get_clear_errors(demo):
    status, data = demo.request("POST", "/api/pis/pi-9/kill", {})
    assert status == 404 and "pi-1, pi-2" in data["error"]
    status, data = demo.request("POST", "/api/pis/pi-1/explode", {})
    assert status == 404 and "kill, restart, cut_off or restore" in data["error"]
    status, data = demo.request("POST", "/api/say", {"text": "  "})
    assert status == 400 and "text" in data["error"]
    status, data = demo.request("POST", "/api/sensors/attic", {})
    assert status == 404 and "driveway" in data["error"]
    status, data = demo.request("POST", "/api/say", None, {"Content-Type": "text/plain"})
    assert status == 415


def test_only_the_demos_own_address_and_origin_are_served(demo):
    status, data = demo.request("GET", "/api/state", headers={"Host": "evil.example:80"})
    assert status == 403 and "127.0.0.1" in data["error"]
    status, data = demo.request("POST", "/api/say", {"text": "toggle dining light"},
                                {"Origin": "http://evil.example"})
    assert status == 403
    assert demo.url.startswith("http://127.0.0.1:")


def test_walking_past_the_motion_sensor_posts_and_runs_its_command(demo):
    state = demo.wait_online()
    if not any(s["key"] == "driveway" for s in state["house"]["sensors"]):
        pytest.skip("the sensors plugin is not in this tree")
    demo.post("/api/sensors/driveway", {"active": True})
    demo.wait_for(lambda s: any("Motion in the driveway" in m["text"] for m in s["messages"]),
                  15, "the motion event")
    demo.wait_for(lambda s: demo.light(s, "porch")["on"], 15, "the porch light (its `run`)")
    demo.post("/api/sensors/driveway", {"active": False})


def test_a_killed_pi_is_offline_and_the_house_still_answers(demo):
    demo.wait_online()
    demo.post("/api/pis/pi-1/kill")
    state = demo.wait_for(lambda s: demo.pi(s, "pi-1")["state"] == "offline" and s, 10,
                          "pi-1 offline")
    pi = demo.pi(state, "pi-1")
    assert pi["pid"] is None and pi["last_exit"] == -signal.SIGKILL
    assert pi["detail"] == "killed · stays off until you press Start"  # no systemd here
    assert pi["down_since"] <= time.time()
    ts = demo.post("/api/say", {"text": "toggle lounge light"})["ts"]
    answer = demo.wait_for(lambda s: demo.answers(s, ts), 20, "an answer")
    assert [a["author"] for a in answer] == ["pi-2"]
    demo.post("/api/pis/pi-1/restart")
    demo.wait_online()


def test_restart_stops_a_pi_cleanly_then_starts_it(demo):
    """Restart is what `systemctl restart` does (SIGTERM, then start); Kill pulls the plug."""
    before = demo.pi(demo.wait_online(), "pi-2")
    demo.post("/api/pis/pi-2/restart")
    state = demo.wait_for(lambda s: (p := demo.pi(s, "pi-2"))["state"] == "online"
                          and p["pid"] != before["pid"] and s, 30, "pi-2 back with a new pid")
    pi = demo.pi(state, "pi-2")
    assert pi["last_exit"] == 0, "stopped by SIGTERM, it exits cleanly; -9 would be a kill"
    assert pi["restarts"] == before["restarts"] + 1
    assert any("pi-2 restarting: SIGTERM" in a["text"] for a in state["activity"])


def test_a_pi_cut_off_from_slack_is_shown_and_the_others_answer(demo):
    demo.wait_online()
    demo.post("/api/pis/pi-2/cut_off")
    demo.wait_for(lambda s: demo.pi(s, "pi-2")["state"] == "cut off", 10, "pi-2 cut off")
    ts = demo.post("/api/say", {"text": "toggle dining light"})["ts"]
    answer = demo.wait_for(lambda s: demo.answers(s, ts), 20, "an answer")
    assert [a["author"] for a in answer] == ["pi-1"]
    demo.post("/api/pis/pi-2/restore")
    demo.wait_online()
    assert len(demo.answers(demo.state(), ts)) == 1


def test_the_trap_waits_for_a_command_posted_after_it_is_armed(demo):
    """A Pi back from a cut-off may pin an older, finished message late (and give it back
    at once); that pin must not spring the trap meant for the next command."""
    import tomllib

    from slack_sdk import WebClient

    demo.wait_online()
    ts = demo.post("/api/say", {"text": "lights"})["ts"]
    demo.wait_for(lambda s: demo.answers(s, ts), 20, "an answer to `lights`")
    workdir = Path(demo.args[demo.args.index("--workdir") + 1])
    slack = tomllib.loads((workdir / "pi-2" / "troupe.toml").read_text())["slack"]
    late = WebClient(token=slack["bot_token"], base_url=slack["api_url"])
    channel = next(c["id"] for c in late.conversations_list()["channels"]
                   if slack["channel"] in (c["id"], c["name"]))
    demo.post("/api/trap", {"armed": True})
    try:
        late.pins_add(channel=channel, timestamp=ts)
        late.pins_remove(channel=channel, timestamp=ts)
        late_pin = [{"by": "pi-2", "what": "pinned"}, {"by": "pi-2", "what": "unpinned"}]
        state = demo.wait_for(lambda s: [{"by": e["by"], "what": e["what"]} for e in
                                         demo.message(s, ts)["events"][-2:]] == late_pin and s,
                              10, "the late pin given back")
        assert state["trap"], "the trap sprang on a message posted before it was armed"
        assert all(p["state"] == "online" for p in state["pis"])
    finally:
        demo.post("/api/trap", {"armed": False})


def test_a_pi_killed_mid_command_is_taken_over(demo):
    demo.wait_online()
    demo.post("/api/trap", {"armed": True})
    ts = demo.post("/api/say", {"text": "toggle bedroom light"})["ts"]
    state = demo.wait_for(lambda s: (m := demo.message(s, ts)) and m["trail"]
                          and any(p["state"] == "offline" for p in s["pis"]) and s,
                          15, "the claiming Pi to die")
    victim = next(p["name"] for p in state["pis"] if p["state"] == "offline")
    try:
        # Before the lease (6 s from the pin) runs out: the page has what it counts down from.
        claim = demo.message(state, ts)["trail"][0]
        assert (claim["tone"], claim["live"]) == ("claim", True), claim
        assert claim["claimed_at"] <= demo.pi(state, victim)["silent_since"] <= time.time()
        assert state["lease_s"] == 6
        report = demo.wait_for(lambda s: demo.answers(s, ts), 20, "the takeover report")
        assert len(report) == 1
        assert report[0]["author"] != victim
        assert f"@{victim} stopped answering" in report[0]["text"]
        # The taker answers, then marks and unpins: the trail settles a moment later.
        demo.wait_for(lambda s: [step["tone"] for step in demo.message(s, ts)["trail"]]
                      == ["failed", "interrupted"], 10, "the trail: stopped, taken over")
        assert not demo.state()["trap"]
    finally:  # the next tests need every Pi
        demo.post(f"/api/pis/{victim}/restart")
        demo.wait_online()


def test_update_rolls_the_newer_version_across_the_pis(demo):
    """The demo carries a local release source; each Pi restarts into the new release."""
    state = demo.wait_online()
    if state["update"] is None:
        pytest.skip("the update plugin is not in this tree")
    newer = state["update"]["newer"]
    assert state["update"]["command"] == f"update to {newer}"
    assert state["update"]["behind"] == ["pi-1", "pi-2"]
    demo.post("/api/say", {"text": state["update"]["command"]})
    seen: dict[str, list[str]] = {"pi-1": [], "pi-2": []}  # each Pi's steps, as the page saw
    under_way = []

    def every_pi_updated(s: dict) -> dict | None:
        for p in s["pis"]:
            if p["step"] and p["step"] not in seen[p["name"]][-1:]:
                seen[p["name"]].append(p["step"])
        under_way.append(s["update"]["under_way"])
        return all(p["version"] == newer.removeprefix("v") and p["state"] == "online"
                   for p in s["pis"]) and s["update"]["command"] is None and s

    state = demo.wait_for(every_pi_updated, 60, f"every Pi on {newer}")
    assert all(p["restarts"] >= 1 for p in state["pis"])
    assert state["update"]["behind"] == []  # the page's update button and chip go
    assert True in under_way  # no second update offered while one runs
    for name, steps in seen.items():
        assert steps[0] == f"preparing {newer}: building, checking", (name, steps)
        assert any(f"{newer} built and checked, ready" in step for step in steps), steps
        assert any(step.startswith(f"its turn: switching to {newer}") for step in steps), steps
    demo.wait_for(lambda s: not any(p["step"] for p in s["pis"]), 20,
                  "the steps to clear once the summary is posted")
    ts = demo.post("/api/say", {"text": "roll call"})["ts"]
    answers = demo.wait_for(lambda s: demo.answers(s, ts), 20, "the roll call's answer")
    assert len(answers) == 1  # one Pi answers for both, the other from its board
    assert answers[0]["text"].count(f"version {newer.removeprefix('v')},") == 2


# ---- the port -----------------------------------------------------------------------------

def held_port(port: int = 0) -> socket.socket:
    """A listening socket on 127.0.0.1:`port` (0: any free port)."""
    held = socket.socket()
    held.bind(("127.0.0.1", port))
    held.listen()
    return held


def test_a_port_in_use_is_named_with_how_to_pick_another(tmp_path):
    with held_port() as held:
        port = held.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "troupe", "demo", "--hosts", "1",
                               "--port", str(port), "--workdir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"cannot serve on 127.0.0.1:{port}: another program" in done.stderr
    assert f"make demo PORT={port + 1}" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_a_port_a_taken_8080_falls_back_to_a_free_port(tmp_path):
    """`make demo` with another demo open: the page comes up elsewhere and says where."""
    try:
        held = held_port(DEFAULT_PORT)
    except OSError:  # someone else holds 8080: the case under test all the same
        held = None
    try:
        with DemoProcess(hosts=1, workdir=tmp_path, port=None) as running:
            assert running.url.startswith("http://127.0.0.1:")
            assert not running.url.endswith(f":{DEFAULT_PORT}/")
            note = running.wait_line("  note: port", 10)
            assert f"port {DEFAULT_PORT} is in use" in note and "make demo PORT=" in note
            assert running.state()["pis"][0]["name"] == "pi-1"  # the page answers there
    finally:
        if held is not None:
            held.close()


# ---- stopping ---------------------------------------------------------------------------

def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line mentions `text` (the demo's workdir: its Pis' configs)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


def open_page_feed(url: str) -> threading.Event:
    """Hold the live feed open like a browser tab would; the event is set once it is open."""
    opened = threading.Event()

    async def follow() -> None:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(url.replace("http:", "ws:") + "api/events") as ws:
            assert (await ws.receive_json())["type"] == "snapshot"
            opened.set()
            async for _ in ws:
                pass

    threading.Thread(target=asyncio.run, args=(follow(),), daemon=True).start()
    return opened


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to list processes")
def test_ctrl_c_stops_every_pi_and_emulator(tmp_path):
    with DemoProcess(hosts=2, workdir=tmp_path) as running:
        pis = [p["pid"] for p in running.wait_online()["pis"]]
        assert len(processes_mentioning(str(tmp_path))) == 3  # the demo and its two Pis
        assert open_page_feed(running.url).wait(10)  # an open page must not hold up the stop
        started = time.monotonic()
        assert running.interrupt(timeout=15) == 0
        assert time.monotonic() - started < 10
        assert any(line.startswith("Stopped") for line in running.lines)
    assert processes_mentioning(str(tmp_path)) == []
    for pid in pis:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to list processes")
def test_pis_end_even_when_the_demo_is_killed(tmp_path):
    """SIGKILL leaves no chance to clean up: the kernel tells the Pis (parent-death signal)."""
    running = DemoProcess(hosts=1, workdir=tmp_path).start()
    try:
        running.wait_online()
        assert running.proc is not None
        running.proc.send_signal(signal.SIGKILL)
        running.proc.wait(10)
        wait_for(lambda: not processes_mentioning(str(tmp_path)), 20, "the orphaned Pi to end")
    finally:
        running.stop()


def test_a_pi_exiting_75_restarts_at_once_from_its_current_release(tmp_path):
    """The demo plays systemd for self-updates: exit 75 means "start me again, new release"."""
    release = tmp_path / "opt-troupe" / "releases" / "v9.9.9" / "venv" / "bin"
    release.mkdir(parents=True)
    (tmp_path / "opt-troupe" / "current").symlink_to("releases/v9.9.9")
    fake = release / "python"  # first start: exit 75 (switched release); then: ready
    fake.write_text('#!/bin/sh\nn=$(cat "$COUNT" 2>/dev/null || echo 0)\n'
                    'echo $((n + 1)) > "$COUNT"\n[ "$n" = 0 ] && exit 75\n'
                    'echo "pi-1 ready: #home"\nexec sleep 60\n')
    fake.chmod(0o755)
    notes: list[str] = []

    async def scenario() -> Pi:
        pi = Pi("pi-1", tmp_path, {"host": {"name": "pi-1"}}, {"COUNT": str(tmp_path / "n")},
                tmp_path / "opt-troupe", lambda p: notes.append(p.note))
        await pi.start()
        assert await pi.wait_ready(20)
        await pi.terminate(5)
        return pi

    pi = asyncio.run(scenario())
    assert (tmp_path / "n").read_text().strip() == "2"
    assert "restarting into its new release" in notes
    assert (pi.version, pi.restarts, pi.running, pi.note) == ("9.9.9", 1, False, "stopped")
