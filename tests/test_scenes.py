"""Scenes: named lists of commands, each step run once by the federation, reported in one thread."""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

import pytest

from troupe.check import check_config
from troupe.config import ConfigError
from troupe.testing import Federation, dump_toml, wait_for

PLUGINS = Path(__file__).parent / "plugins"


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
        check_config(write_config(tmp_path, **sections), env={})
    return {p.key: str(p) for p in e.value.problems}


def test_check_accepts_good_scenes(tmp_path):
    path = write_config(tmp_path, scenes={
        "goodnight": {"steps": ["count 1", "scene porch"], "description": "lights down"},
        "porch": {"steps": ["count 2"]}}, aliases={"night": "scene goodnight"})
    assert [cls.plugin_name() for cls in check_config(path, env={}).plugins] == [
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


@pytest.mark.multihost
def test_scene_runs_each_step_once_reported_in_its_thread(tmp_path):
    log = tmp_path / "runs.log"
    fed = Federation(tmp_path / "fed", 3, plugins=["scenes", "probe"], plugin_paths=[PLUGINS],
                     config={"probe": {"log": str(log)},
                             "scenes": {"goodnight": {"steps": ["count 1", "count 2"]},
                                        "morning": {"steps": ["count 3"]}},
                             "aliases": {"goodnight": "scene goodnight"}})
    with fed:
        ts = fed.say("goodnight")  # the alias
        wait_for(lambda: runs(log) == {1: 1, 2: 1}, 20, "both steps to run")
        thread = lambda: fed.bot_messages(thread_ts=ts)  # noqa: E731
        wait_for(lambda: {"counted 1", "counted 2"} <= {m["text"] for m in thread()}, 20,
                 "both steps answered in the scene's thread")
        steps = [m for m in thread() if m["text"] in ("count 1", "count 2")]
        wait_for(lambda: all(fed.ws.reactions(m["ts"]) for m in steps), 10, "steps marked done")
        wait_for(lambda: not fed.ws.pins(), 10, "every claim released")
        assert runs(log) == {1: 1, 2: 1}
        texts = [m["text"] for m in thread()]
        assert sorted(texts[1:]) == ["count 1", "count 2", "counted 1", "counted 2"]
        assert texts[0].startswith(":clapper: Scene goodnight: 2 step(s)")
        assert [m["text"] for m in fed.answers_to(ts)] == [texts[0]]  # one answer to the scene
        assert not [m for m in fed.bot_messages(after=ts) if "thread_ts" not in m]

        unknown = fed.say("scene bedtime")
        answer = fed.wait_for_answer(unknown)
        assert answer["text"] == "No scene called `bedtime`. Known scenes: `goodnight`, `morning`."
        listed = fed.wait_for_answer(fed.say("scenes"))
        assert "`goodnight`: count 1; count 2" in listed["text"]
        assert "`morning`: count 3" in listed["text"]
        wait_for(lambda: not fed.ws.pins(), 10, "every claim released")
        assert len(fed.answers_to(unknown)) == 1
