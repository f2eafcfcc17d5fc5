"""What a Pi remembers from chat (`target`, `debug`) survives its restart."""

from __future__ import annotations

import collections
import json
import logging
from pathlib import Path

import pytest

from troupe.config import parse_config
from troupe.state import HostState, default_state_dir
from troupe.testing import Federation

PLUGINS = Path(__file__).parent / "plugins"
TOKENS = {"bot_token": "xoxb-1", "app_token": "xapp-1", "channel": "home"}
SECRET = {"TROUPE_FEDERATION_SECRET": "a-secret-every-pi-of-the-house-shares"}


def test_settings_are_kept_in_one_file_per_host(tmp_path):
    state = HostState(tmp_path / "state", "pi-1")
    assert state.get("target") is None
    assert state.remember(target="pi-2") is None
    assert state.remember(debug=True) is None
    assert json.loads((tmp_path / "state" / "pi-1.json").read_text()) == {
        "target": "pi-2", "debug": True}
    again = HostState(tmp_path / "state", "pi-1")
    assert (again.get("target"), again.get("debug")) == ("pi-2", True)
    assert HostState(tmp_path / "state", "pi-2").values == {}  # another host's own file
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["pi-1.json"]  # no temp left
    with pytest.raises(ValueError, match="cannot remember colour"):
        state.remember(colour="red")


def test_a_broken_file_is_named_and_ignored(tmp_path, caplog):
    caplog.set_level(logging.WARNING, "troupe.state")
    path = tmp_path / "pi-1.json"
    path.write_text("{not json")
    assert HostState(tmp_path, "pi-1").values == {}
    assert str(path) in caplog.text
    path.write_text(json.dumps({"target": 7, "debug": True, "colour": "red"}))
    assert HostState(tmp_path, "pi-1").values == {"debug": True}
    assert "target = 7" in caplog.text and "colour = 'red'" in caplog.text


def test_a_setting_that_cannot_be_written_still_applies_and_says_why(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    state = HostState(blocker, "pi-1")
    problem = state.remember(target="pi-3")
    assert problem and str(blocker / "pi-1.json") in problem
    assert state.get("target") == "pi-3"


def test_state_dir_is_configured_or_systemds_or_xdgs(tmp_path):
    config_file = tmp_path / "etc" / "troupe.toml"
    config, problems = parse_config({"slack": TOKENS, "host": {"state_dir": "state"}},
                                    env=SECRET, path=str(config_file))
    assert not problems and config.state_dir == str(tmp_path / "etc" / "state")
    config, _ = parse_config({"slack": TOKENS},
                             env={**SECRET, "STATE_DIRECTORY": "/var/lib/troupe"})
    assert config.state_dir == "/var/lib/troupe"
    assert default_state_dir({"XDG_STATE_HOME": "/x"}) == Path("/x/troupe")
    assert default_state_dir({"HOME": "/home/pi"}) == Path("/home/pi/.local/state/troupe")
    _, problems = parse_config({"slack": TOKENS, "host": {"state_dir": 3}}, env=SECRET)
    assert [p.key for p in problems] == ["host.state_dir"]
    assert "keeps what chat told it" in str(problems[0])


def ran_on(log: Path) -> collections.Counter:
    """Which Pi ran each `count N`, from the probe's run log."""
    return collections.Counter(line.split()[2] for line in log.read_text().splitlines()
                               if line.startswith("count "))


@pytest.mark.multihost
def test_target_and_debug_survive_a_restart_of_every_pi(tmp_path):
    log = tmp_path / "runs.log"
    with Federation(tmp_path / "fed", 3, plugins=["core", "probe"], plugin_paths=[PLUGINS],
                    config={"probe": {"log": str(log)}}) as fed:
        ts = fed.say("target pi-2")
        answer = fed.wait_for_answer(ts)
        assert fed.host_of(answer) == "pi-2"  # the Pi targeted answers
        assert "now go to pi-2. Applied by pi-1, pi-2, pi-3" in answer["text"]
        ts = fed.say("debug on")
        assert "Applied by pi-1, pi-2, pi-3" in fed.wait_for_answer(ts)["text"]
        for name in fed.host_names:  # as a rolling update does
            fed.restart(name)
        posted = [fed.say(f"count {n}") for n in range(6)]
        answers = [fed.wait_for_answer(ts) for ts in posted]
        assert ran_on(log) == {"pi-2": 6}
        assert all("pi-2" in a["text"] for a in answers)  # debug on: the answer names its Pi
        assert "remembers from chat: debug True, target pi-2" in fed.log("pi-1")

        ts = fed.say("target all")
        assert "now go to any Pi. Applied by pi-1, pi-2, pi-3" in fed.wait_for_answer(ts)["text"]
        fed.restart("pi-1")
        fed.restart("pi-3")
        fed.stop_host("pi-2")
        ts = fed.say("count 6")
        fed.wait_for_answer(ts)
        assert ran_on(log)["pi-2"] == 6 and sum(ran_on(log).values()) == 7
