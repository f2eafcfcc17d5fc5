"""`troupe sim --hue NAMES`: the Hue bridge emulator alongside the Slack one, as a real process."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time

import phue
import pytest

from troupe.sim.cli import build_parser, hue_names, main

DEADLINE_S = 20.0


def _first_line(proc: subprocess.Popen[str], timeout: float = DEADLINE_S) -> str:
    """The first stdout line, or fail (with stderr) if none comes within ``timeout``."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            proc.kill()
            pytest.fail(f"no JSON line within {timeout} s; stderr: {proc.communicate()[1]}")
    finally:
        sel.close()
    line = proc.stdout.readline()
    if not line:
        pytest.fail(f"troupe sim ended early (rc {proc.wait()}): {proc.stderr.read()}")
    return line


def test_sim_hue_serves_a_bridge_phue_can_use_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path)}  # phue must not find (or write) a real config
    proc = subprocess.Popen(
        [sys.executable, "-m", "troupe.sim.cli", "--port", "0", "--apps", "2",
         "--rate-limits", "off", "--hue", "dining,lounge"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        info = json.loads(_first_line(proc))
        assert info["api_url"].startswith("http://127.0.0.1:")
        hue = info["hue"]
        assert hue["address"].startswith("127.0.0.1:")
        assert hue["username"]

        bridge = phue.Bridge(ip=hue["address"], username=hue["username"])
        assert sorted(light.name for light in bridge.lights) == ["Dining", "Lounge"]
        assert bridge.get_light("Dining", "on") is False
        answer = bridge.set_light("Dining", {"on": True, "bri": 100})
        assert all("success" in item for item in answer[0]), answer
        assert bridge.get_light("Dining", "on") is True
        assert bridge.get_light("Dining", "bri") == 100
        assert bridge.get_light("Lounge", "on") is False  # only the light asked for

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(DEADLINE_S) == 0
        # stopped means stopped: the bridge no longer answers
        with pytest.raises(OSError):
            phue.Bridge(ip=hue["address"], username=hue["username"]).get_api()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sim_hue_stops_on_sigint_too():
    proc = subprocess.Popen(
        [sys.executable, "-m", "troupe.sim.cli", "--port", "0", "--apps", "1",
         "--hue", "porch"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        info = json.loads(_first_line(proc))
        assert "hue" in info
        proc.send_signal(signal.SIGINT)
        assert proc.wait(DEADLINE_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_without_hue_there_is_no_bridge():
    assert build_parser().parse_args([]).hue is None


def test_hue_names_are_title_cased_and_trimmed():
    assert hue_names("dining,lounge,porch") == ["Dining", "Lounge", "Porch"]
    assert hue_names(" dining , living room") == ["Dining", "Living room"]


@pytest.mark.parametrize(
    ("names", "says"),
    [
        ("", "must not be empty"),
        ("dining,,lounge", "must not be empty"),
        ("dining,", "must not be empty"),
        ("dining,lounge,Dining", "named twice"),
        ("x" * 33, "longer than 32"),
    ],
)
def test_bad_hue_names_exit_2_with_a_clear_error(names, says, capsys):
    started = time.monotonic()
    with pytest.raises(SystemExit) as exc:
        main(["--port", "0", "--hue", names])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--hue" in err and says in err
    assert time.monotonic() - started < 5  # refused before anything starts
