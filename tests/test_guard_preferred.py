"""Preferred claims from the configuration: `[troupe] preferred_claims` and `preferred_window`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from troupe.config import PREFERRED_CLAIMS_DEFAULT, parse_config
from troupe.guard import PREFERRED_ENV, PREFERRED_WINDOW, preferred_window
from troupe.testing import Federation, dump_toml, wait_for

SECRET = {"TROUPE_FEDERATION_SECRET": "a-secret-every-pi-of-the-house-shares"}

PLUGINS = Path(__file__).parent / "plugins"
TOKENS = {"bot_token": "xoxb-1", "app_token": "xapp-1", "channel": "home"}


def problems_of(troupe: dict) -> dict[str, str]:
    _, problems = parse_config({"slack": TOKENS, "troupe": troupe}, env=SECRET)
    return {p.key: str(p) for p in problems}


def test_preferred_claims_is_read_and_checked():
    config, problems = parse_config({"slack": TOKENS, "troupe": {"preferred_claims": True}},
                                    env=SECRET)
    assert not problems
    assert config.preferred_claims is True and config.preferred_window is None
    config, _ = parse_config({"slack": TOKENS, "troupe": {"preferred_claims": True,
                                                          "preferred_window": 0.8}}, env=SECRET)
    assert config.preferred_window == 0.8
    config, _ = parse_config({"slack": TOKENS}, env=SECRET)
    assert config.preferred_claims is PREFERRED_CLAIMS_DEFAULT

    wrong = problems_of({"preferred_claims": "yes"})
    assert "troupe.preferred_claims = 'yes': expected true or false" in wrong[
        "troupe.preferred_claims"]
    assert "troupe.preferred_claims" in problems_of({"preferred_claims": 1})
    for window in (0, -1, True, "0.5"):
        found = problems_of({"preferred_claims": True, "preferred_window": window})
        assert "seconds, a positive number" in found["troupe.preferred_window"], window
    found = problems_of({"preferred_claims": False, "preferred_window": 0.5})
    assert "while preferred_claims = false" in found["troupe.preferred_window"]
    assert "troupe.preferred" in problems_of({"preferred": True})  # a misspelt key


def test_check_names_the_preferred_keys(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(dump_toml({"slack": TOKENS | {"bot_token": "xoxb-secret"},
                              "troupe": {"preferred_claims": "on", "preferred_window": -2}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TROUPE_")}
    result = subprocess.run([sys.executable, "-m", "troupe", "check", "--config", str(bad)],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert "troupe.preferred_claims = 'on': expected true or false" in result.stderr
    assert "troupe.preferred_window = -2: expected seconds" in result.stderr


def test_the_environment_overrides_the_configuration():
    assert preferred_window("", configured=0.7) == 0.7  # not set: the configuration
    assert preferred_window("", configured=0.0) == 0.0
    assert preferred_window("0", configured=0.7) == 0.0  # set: it wins, either way
    assert preferred_window("1", configured=0.0) == PREFERRED_WINDOW
    assert preferred_window("0.25", configured=0.7) == 0.25


def counts(path: Path, kind: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        word, n, _host = line.split()
        if word == kind:
            out[int(n)] = out.get(int(n), 0) + 1
    return out


@pytest.mark.multihost
def test_with_preferred_claims_configured_every_command_runs_once_with_a_pi_dead(tmp_path):
    log = tmp_path / "runs.log"
    fed = Federation(tmp_path / "fed", 3, plugins=["probe"], plugin_paths=[PLUGINS],
                     config={"probe": {"log": str(log)}, "troupe": {"preferred_claims": True}},
                     env={PREFERRED_ENV: ""})  # the configuration decides, not the environment
    with fed:
        fed.kill("pi-3")  # still a member of the channel: first in line for some commands
        before = fed.ws.call_counts()
        posted = [fed.say(f"count {n}") for n in range(8)]
        wait_for(lambda: len(counts(log, "count")) == 8, 30, "every command to run")
        for ts in posted:
            fed.wait_for_answer(ts)
        wait_for(lambda: not fed.ws.pins(), 10, "every claim to be released")
        after = fed.ws.call_counts()
        assert counts(log, "count") == {n: 1 for n in range(8)}
        assert all(len(fed.answers_to(ts)) == 1 for ts in posted)
        pins = sum(after[h].get("pins.add", 0) - before.get(h, {}).get("pins.add", 0)
                   for h in ("pi-1", "pi-2"))
        assert pins <= 8 + 2  # every Pi claiming every command: 16
        assert "in line" in fed.log("pi-1") + fed.log("pi-2")

        # A command only one Pi can run is claimed by that Pi at once, not in its turn.
        only = [fed.say(f"only pi-2 {n}") for n in range(4)]
        for ts in only:
            assert fed.host_of(fed.wait_for_answer(ts)) == "pi-2"
        assert counts(log, "only") == {n: 1 for n in range(4)}
        assert not [line for line in fed.log("pi-2").splitlines()
                    if "in line" in line and "'only pi-2" in line]
