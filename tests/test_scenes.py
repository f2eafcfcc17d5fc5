"""Scenes: named lists of commands run under one claim, each step once, in one answer."""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

import pytest
from troupe_plugins.scenes.runner import Step, waves

from troupe.check import check_config
from troupe.config import ConfigError
from troupe.sim.hue import HueBridge
from troupe.testing import Federation, dump_toml, wait_for

PLUGINS = Path(__file__).parent / "plugins"
SECRET = {"TROUPE_FEDERATION_SECRET": "a-secret-every-pi-of-the-house-shares"}


def runs(path: Path) -> collections.Counter:
    lines = path.read_text().splitlines() if path.exists() else []
    return collections.Counter(int(line.split()[1]) for line in lines if line.startswith("count "))


def write_config(tmp_path: Path, **sections) -> Path:
    raw = {
        "slack": {"bot_token": "xoxb-1", "app_token": "xapp-1", "channel": "home"},
        "plugins": {"enabled": ["scenes", "probe"], "paths": [str(PLUGINS)]},
        "probe": {"log": str(tmp_path / "runs.log")},
        **sections,
    }
    path = tmp_path / "troupe.toml"
    path.write_text(dump_toml(raw))
    return path


def problems(tmp_path: Path, **sections) -> dict[str, str]:
    with pytest.raises(ConfigError) as e:
        check_config(write_config(tmp_path, **sections), env=SECRET)
    return {p.key: str(p) for p in e.value.problems}


def test_check_accepts_good_scenes(tmp_path):
    path = write_config(tmp_path, scenes={
        "goodnight": {"steps": ["count 1", "scene porch"], "description": "lights down"},
        "porch": {"steps": ["count 2"]}}, aliases={"night": "scene goodnight"})
    assert [cls.plugin_name() for cls in check_config(path, env=SECRET).plugins] == [
        "core", "scenes", "probe"]


def test_check_reports_each_scene_mistake_by_key(tmp_path):
    found = problems(tmp_path, scenes={
        "empty": {"steps": []},
        "notalist": {"steps": "count 1"},
        "numbers": {"steps": ["count 1", 3]},
        "missing": {"description": "no steps"},
        "typo": {"steps": ["count 1", "cont 2", "scene nowhere"]},
        "loop": {"steps": ["scene round"]},
        "round": {"steps": ["scene loop"]},
        "extra": {"steps": ["count 1"], "stpes": ["count 2"]},
        "flat": "count 1",
    })
    assert "non-empty list" in found["scenes.empty.steps"]
    assert "non-empty list" in found["scenes.notalist.steps"]
    assert "non-empty list" in found["scenes.numbers.steps"]
    assert "missing" in found["scenes.missing.steps"]
    assert "did you mean `count <n>`" in found["scenes.typo.steps[1]"]
    assert "a configured scene (known:" in found["scenes.typo.steps[2]"]
    assert "scenes.typo.steps[0]" not in found
    assert "itself" in found["scenes.loop.steps"] and "itself" in found["scenes.round.steps"]
    assert "unknown key" in found["scenes.extra.stpes"]
    assert "a table" in found["scenes.flat"]


def test_troupe_check_command_names_the_key(tmp_path):
    path = write_config(tmp_path, scenes={"goodnight": {"steps": ["count 1", "swich porch off"]}})
    out = subprocess.run([sys.executable, "-m", "troupe", "check", "--config", str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "scenes.goodnight.steps[1] = 'swich porch off': expected a command" in out.stderr


HOUSE = {"dining": {"hue": "Dining"}, "lounge": {"hue": "Lounge"},
         "porch": {"gpio": 17, "host": "pi-2"},
         "shed": {"gpio": 17, "host": "pi-3", "active_high": False}}


def by_host(path: Path, kind: str = "count") -> dict[int, list[str]]:
    """Who ran each `kind N`, from the probe's run log."""
    out: dict[int, list[str]] = collections.defaultdict(list)
    for line in (path.read_text().splitlines() if path.exists() else []):
        parts = line.split()
        if parts[0] == kind:
            out[int(parts[1])].append(parts[2])
    return dict(out)


@pytest.mark.multihost
def test_a_scene_runs_under_one_claim_with_one_answer(tmp_path):
    """The Pi that claims the scene runs its Hue and probe steps without posting them; each
    GPIO relay's steps go to its Pi in one message; nested scenes run inline; the one
    answer is edited to say how it went."""
    log = tmp_path / "runs.log"
    with HueBridge(lights=["Dining", "Lounge", "Porch"]) as hue:
        fed = Federation(
            tmp_path / "fed", 3, plugins=["scenes", "probe", "lights"], plugin_paths=[PLUGINS],
            gpio=True,
            config={"probe": {"log": str(log)}, "lights": HOUSE,
                    "hue": {"bridge": hue.address, "username": hue.username},
                    "scenes": {"evening": {"steps": ["switch dining on", "switch lounge on",
                                                     "count 1", "switch porch on",
                                                     "scene outside"]},
                               "outside": {"steps": ["switch shed on", "count 2", "ping 3"]}},
                    "aliases": {"evening": "scene evening"}})
        with fed:
            ts = fed.say("evening")  # the alias
            answer = lambda: fed.answers_to(ts)  # noqa: E731
            wait_for(lambda: answer() and answer()[0]["text"].startswith(
                "Evening: 7 of 7 done in "), 20, "the answer to say every step is done")
            wait_for(lambda: not fed.ws.pins(), 10, "every claim released")
            scene_pi = fed.host_of(answer()[0])
            assert len(answer()) == 1 and "\n" not in answer()[0]["text"]
            assert by_host(log) == {1: [scene_pi], 2: [scene_pi]}  # run by the scene's Pi
            wait_for(lambda: sorted(by_host(log, "ping").get(3, [])) == fed.host_names, 10,
                     "the broadcast step to run on every Pi")
            assert sorted((c["light"], c["attr"], c["new"]) for c in hue.changes()) == [
                ("Dining", "on", True), ("Lounge", "on", True)]  # once each
            assert fed.gpio("pi-2").pin(17) == 1 and fed.gpio("pi-3").pin(17) == 0  # both on
            # In the thread: the answer, one message per other relay's Pi, the broadcast.
            parts = {"scene steps 4 for pi-2 of evening", "scene steps 5 for pi-3 of evening"}
            parts = {p for p in parts if f"for {scene_pi} " not in p}
            texts = sorted(m["text"] for m in fed.bot_messages(thread_ts=ts))
            assert texts == sorted([answer()[0]["text"], "ping 3", *parts])
            assert all("thread_ts" in m for m in fed.bot_messages(after=ts))  # none on top
            for m in fed.bot_messages(thread_ts=ts):
                if m["text"] in parts:
                    assert [r["name"] for r in fed.ws.reactions(m["ts"])] == ["white_check_mark"]

            unknown = fed.say("scene bedtime")
            assert fed.wait_for_answer(unknown)["text"] == (
                "No scene called `bedtime`. Known scenes: `evening`, `outside`.")
            listed = fed.wait_for_answer(fed.say("scenes"))
            assert "`outside`: switch shed on; count 2; ping 3" in listed["text"]
            wait_for(lambda: not fed.ws.pins(), 10, "every claim released")
            assert len(fed.answers_to(unknown)) == 1


class Lamp:
    """A plugin that names the device of a command, as lights does."""

    def device_of(self, spec, args):
        return args.get("light")


def test_steps_on_different_devices_run_together_in_order():
    spec = type("Spec", (), {"idempotent": True, "mode": "exclusive"})()
    steps = [Step(i, text, Lamp(), spec, {"light": light} if light else {})
             for i, (text, light) in enumerate([
                 ("switch a off", "a"), ("switch b off", "b"), ("switch a on", "a"),
                 ("count 1", None), ("switch c off", "c"), ("switch d off", "d")])]
    steps[3].plugin = object()  # names no device: runs alone, in its place
    assert [[s.index for s in wave] for wave in waves(steps)] == [[0, 1], [2], [3], [4, 5]]


def scene_federation(tmp_path: Path, steps: list[str]) -> Federation:
    return Federation(tmp_path / "fed", 3, plugins=["scenes", "probe"], plugin_paths=[PLUGINS],
                      config={"probe": {"log": str(tmp_path / "runs.log")},
                              "scenes": {"night": {"steps": steps}}})


@pytest.mark.multihost
@pytest.mark.parametrize("step", ["hold", "wait"])
def test_a_scene_whose_pi_dies_mid_step_is_finished_by_another_pi(tmp_path, step):
    """Killed while running step 2: another Pi takes the scene over after the lease, goes on
    after the last step known done (step 1 is not run again), runs step 3, and runs step 2
    again only if it is idempotent (`wait`); `hold` is reported as interrupted."""
    log = tmp_path / "runs.log"
    with scene_federation(tmp_path, ["count 1", f"{step} 2", "count 3"]) as fed:
        ts = fed.say("scene night")
        first = wait_for(lambda: by_host(log, "start").get(2), 20, "step 2 to start")[0]
        fed.kill(first)  # mid-scene, mid-step
        (tmp_path / "runs.log.release").touch()
        wait_for(lambda: by_host(log).get(3), 30, "another Pi to go on with step 3")
        answers = lambda: fed.answers_to(ts)  # noqa: E731
        wait_for(lambda: len(answers()) == 2 and "…" not in answers()[1]["text"], 20,
                 "the taker's answer")
        wait_for(lambda: not fed.ws.pins(), 15, "every claim released")
        taker = fed.host_of(answers()[1])
        assert taker != first and fed.host_of(answers()[0]) == first
        assert by_host(log) == {1: [first], 3: [taker]}  # step 1 not again
        text = answers()[1]["text"]
        assert text.startswith(f"Night: {'2' if step == 'hold' else '3'} of 3 done (went on "
                               f"after {first} stopped answering) in ")
        if step == "hold":
            assert by_host(log, "start") == {2: [first]}  # never twice
            assert f"- interrupted: `hold 2` was running when {first} stopped answering" in text
        else:
            assert by_host(log, "start") == {2: [first, taker]}  # may repeat, never skipped
            assert by_host(log, "finish") == {2: [taker]}


@pytest.mark.multihost
def test_a_schedule_that_fires_a_scene_runs_it_under_one_claim(tmp_path):
    """`in 3 seconds scene night`: Slack posts the firing, a Pi posts `scene night` in its
    thread, and the scene runs as a typed one: its steps once, no step messages, one answer."""
    log = tmp_path / "runs.log"
    fed = Federation(tmp_path / "fed", 3, plugins=["scenes", "probe", "schedules"],
                     plugin_paths=[PLUGINS],
                     config={"probe": {"log": str(log)}, "location": {"timezone": "UTC"},
                             "scenes": {"night": {"steps": ["count 1", "scene late"]},
                                        "late": {"steps": ["count 2"]}}})
    with fed:
        ts = fed.say("in 3 seconds scene night")
        assert "Schedule `" in fed.wait_for_answer(ts)["text"]
        firing = wait_for(lambda: [m for m in fed.ws.messages()
                                   if m["text"].startswith("fire schedule")], 20, "the firing")[0]
        scene = wait_for(lambda: [m for m in fed.bot_messages(thread_ts=firing["ts"])
                                  if m["text"] == "scene night"], 20, "the scene posted")[0]
        in_thread = lambda: [  # noqa: E731 - the scene's answers, in the firing's thread
            m for m in fed.bot_messages(thread_ts=firing["ts"])
            if (m.get("metadata") or {}).get("event_payload", {}).get("command_ts") == scene["ts"]]
        answer = wait_for(lambda: [m for m in in_thread()
                                   if m["text"].startswith("Night: 2 of 2 done in ")], 20,
                          "the scene's answer")[0]
        wait_for(lambda: not fed.ws.pins(), 10, "every claim released")
        ran_by = fed.host_of(answer)
        assert by_host(log) == {1: [ran_by], 2: [ran_by]}
        texts = [m["text"] for m in fed.bot_messages(thread_ts=firing["ts"])]
        assert not [t for t in texts if t.startswith("count ")]  # no step messages
        assert in_thread() == [answer]
