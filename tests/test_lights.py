"""The lights plugin: phue against the emulated Hue bridge, gpiozero on mock pins, real Pis.

The first tests drive the plugin in this process (a small stand-in host that
records what the plugin says); the multihost ones run real `troupe run`
processes against the Slack emulator, with the troupe_sim pin factory so each
Pi's pins can be read from here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory
from troupe_plugins.lights import Lights

from troupe.check import check_config
from troupe.commands import best_match, commands_of
from troupe.config import ConfigError
from troupe.hue_pair import set_username
from troupe.plugin import Context
from troupe.sim.gpio import GpioClient
from troupe.sim.hue import HueBridge
from troupe.testing import Federation, dump_toml, wait_for

LIGHTS = {"dining": {"hue": "Dining"}, "Downstairs": {"hue": "downstairs"},
          "plug": {"hue": "Porch"}, "porch": {"gpio": 17, "host": "pi-2"},
          "shed": {"gpio": 17, "host": "pi-3", "active_high": False}}


class StandIn:
    """What a Pi offers a plugin, minus Slack: answers and schedules are recorded."""

    def __init__(self, name: str = "pi-2") -> None:
        self.name, self.devices, self.said, self.scheduled = name, {}, [], []

    def say(self, text: str, *, thread_ts: str | None = None, reply_to: str | None = None,
            blocks: list | None = None):
        self.said.append(text)
        return f"{len(self.said)}.0"

    def schedule_command(self, text: str, post_at: float, *, on_behalf_of: str | None = None):
        self.scheduled.append((text, post_at, on_behalf_of))
        return "Q1"


@pytest.fixture
def hue():
    with HueBridge(lights=["Dining", "Lounge", "Porch"]) as bridge:
        yield bridge


@pytest.fixture
def plugin(hue):
    Device.pin_factory = MockFactory()
    config = {"hue": {"bridge": hue.address, "username": hue.username}, "lights": LIGHTS}
    lights = Lights(StandIn(), config["lights"], config)
    lights.start()
    yield lights
    lights.stop()
    Device.pin_factory.close()
    Device.pin_factory = None


def run(plugin: Lights, text: str) -> str:
    """Run one command the way the core does; return what the plugin answered."""
    match = best_match(text, commands_of(plugin))
    assert match is not None, text
    assert match.spec.runs_here(match.args), f"{text!r} would not run on {plugin.host.name}"
    before = len(plugin.host.said)
    match.call(Context(host=plugin.host, plugin=plugin, user="U1", text=text, ts="1.0",
                       thread_ts=None, args=match.args))
    return "\n".join(plugin.host.said[before:])


def test_hue_lights_switch_toggle_and_dim_by_any_case(plugin, hue):
    assert run(plugin, "switch DINING light on") == "The dining light is on."
    assert hue.light("Dining")["on"] is True
    assert run(plugin, "toggle Dining light") == "The dining light is off."
    assert run(plugin, "dim dining to 40%") == "The dining light is at 40%."
    assert (hue.light("Dining")["on"], hue.light("Dining")["bri"]) == (True, 102)
    assert run(plugin, "dim downstairs light to 0") == "The Downstairs light is off."
    assert not hue.light("Dining")["on"] and not hue.light("Lounge")["on"]
    assert run(plugin, "toggle downstairs light") == "The Downstairs light is on."
    assert hue.light("Lounge")["on"] is True
    assert "cannot be dimmed" in run(plugin, "dim plug to 50%")
    assert [c["attr"] for c in hue.changes() if c["light"] == "Porch"] == []


def test_gpio_lights_drive_their_pins_active_high_or_low(plugin):
    pins = Device.pin_factory.pins
    porch = plugin.host.devices["porch"].pin
    assert run(plugin, "switch porch on") == "The porch light is on."
    assert porch.state == 1 and porch.function == "output"
    assert run(plugin, "toggle porch light") == "The porch light is off."
    assert porch.state == 0
    assert "relay (GPIO 17 on pi-2)" in run(plugin, "dim porch to 20%")
    assert len(pins) == 1  # pi-2 opened porch; shed belongs to pi-3
    assert plugin.wired_here({"light": "Porch"}) and not plugin.wired_here({"light": "shed"})
    assert plugin.wired_here({"light": "dining"}) and plugin.wired_here({"light": "nope"})
    assert plugin.unavailable_reason(None, {"light": "SHED"}) == \
        "the shed light is wired to pi-3, which did not answer"

    Device.pin_factory.reset()
    shed = Lights(StandIn("pi-3"), LIGHTS, {"lights": LIGHTS})
    shed.start()
    pin = shed.host.devices["shed"].pin
    assert pin.state == 1  # active low: off is a high pin
    run(shed, "switch shed on")
    assert pin.state == 0
    shed.stop()


def test_for_a_while_is_scheduled_with_slack_not_kept_in_a_timer(plugin, hue):
    answer = run(plugin, "switch dining on for 10 minutes")
    assert re.fullmatch(r"The dining light is on for 10 minutes: it switches off at \d\d:\d\d\.",
                        answer)
    [(text, post_at, user)] = plugin.host.scheduled
    assert (text, user) == ("switch dining off", "U1")
    assert 599 <= post_at - time.time() <= 601
    run(plugin, "switch porch off for 1 second")
    assert plugin.host.scheduled[-1][0] == "switch porch on"
    assert "not a time I can schedule" in run(plugin, "switch porch on for 0 minutes")
    assert len(plugin.host.scheduled) == 2


def test_unknown_lights_and_bridge_trouble_get_clear_answers(plugin, hue):
    assert run(plugin, "toggle kitchen light") == (
        "I don't know a light called 'kitchen'. "
        "The lights are: dining, Downstairs, plug, porch, shed.")
    plugin.lights["dining"] = plugin.lights["dining"].__class__("dining", hue="Kitchen")
    assert run(plugin, "switch dining on") == (
        "Sorry, the Hue bridge has no light or group called 'Kitchen' "
        "(it has: Dining, Lounge, Porch, Downstairs).")
    plugin.hue.username = "stranger"
    plugin.hue._bridge = None
    assert "does not know our username (run `troupe hue pair` again)" in run(
        plugin, "toggle plug light")
    address = hue.address
    hue.stop()
    plugin.hue.username = hue.username
    answer = run(plugin, "switch plug on")
    assert answer.startswith(f"Sorry, the Hue bridge at {address} did not answer (")
    local = {"dining": LIGHTS["dining"], "porch": LIGHTS["porch"]}
    plugin.lights = {k: v for k, v in plugin.lights.items() if k in local}
    assert run(plugin, "show lights") == (
        f"Lights:\n- dining: unknown: the Hue bridge at {address} did not answer"
        + answer.split("did not answer")[1].rstrip(".") + "\n- porch: off (GPIO 17 on pi-2)")


def test_config_mistakes_are_reported_by_key(tmp_path):
    raw = {"slack": {"bot_token": "xoxb-1", "app_token": "xapp-1", "channel": "home"},
           "hue": {"bridge": "http://bridge/", "colour": "red"},
           "lights": {
               "dining": {"hue": "Dining"},
               "porch": {"gpio": 28, "host": "pi-2"},
               "shed": {"gpio": True, "host": "pi-3"},
               "garage": {"gpio": 4},
               "hall": {},
               "attic": {"hue": "Attic", "gpio": 5},
               "cellar": {"hue": "Cellar", "host": "pi-1", "brightness": 3},
               "Dining": {"hue": "Dining 2"},
               "yard": "on",
           }}
    path = tmp_path / "troupe.toml"
    path.write_text(dump_toml(raw))
    with pytest.raises(ConfigError) as e:
        check_config(path, env={"TROUPE_FEDERATION_SECRET": "a-secret-the-pis-of-the-house-share"})
    problems = {p.key: str(p) for p in e.value.problems}
    assert set(problems) == {
        "hue.bridge", "hue.colour", "hue.username", "lights.porch.gpio", "lights.shed.gpio",
        "lights.garage.host", "lights.hall.gpio", "lights.attic.hue", "lights.cellar.host",
        "lights.cellar.brightness", "lights.Dining", "lights.yard"}, problems
    assert "expected a BCM pin number, 0-27" in problems["lights.porch.gpio"]
    assert "run `troupe hue pair`" in problems["hue.username"]
    assert "exactly one of hue" in problems["lights.attic.hue"]
    assert "missing" in problems["lights.garage.host"]
    no_bridge = Lights.check({"lights": {"dining": {"hue": "Dining"},
                                         "a": {"gpio": 3, "host": "pi-1"},
                                         "b": {"gpio": 3, "host": "pi-1"}}}, "pi-1")
    assert [p.key for p in no_bridge] == ["hue.bridge", "lights.b.gpio"]
    assert Lights.check({"hue": {"bridge": "127.0.0.1:8080", "username": "u"},
                         "lights": LIGHTS}, "pi-1") == []


# ---- troupe hue pair ------------------------------------------------------------------------

CONFIG = """\
# the house
[slack]
channel = "home"   # where the Pis talk

[hue]
bridge = "{address}"  # the bridge in the hall
{username}
[lights.dining]
hue = "Dining"
"""


def pair(path: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "troupe", "hue", "pair", "--config", str(path), "--interval",
         "0.05", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("old", ["", 'username = "old"  # stale\n'])
def test_pair_waits_for_the_link_button_and_writes_the_username(tmp_path, hue, old):
    path = tmp_path / "troupe.toml"
    path.write_text(CONFIG.format(address=hue.address, username=old))
    path.chmod(0o600)
    proc = pair(path, "--timeout", "20")
    first = proc.stdout.readline()
    if old:
        assert first == "hue.username is already set; pairing again replaces it.\n"
        first = proc.stdout.readline()
    assert f"Press the round link button on the Hue bridge at {hue.address}" in first
    users = len(hue.users())
    hue.press_link_button()  # while pair is polling
    out = first + proc.communicate(timeout=20)[0]
    assert proc.returncode == 0, out
    [new] = hue.users()[users:]
    assert f"Paired with the Hue bridge at {hue.address}" in out and new not in out
    expected = CONFIG.format(address=hue.address, username=f'username = "{new}"\n')
    assert path.read_text() == expected
    assert path.stat().st_mode & 0o777 == 0o600


def test_pair_gives_up_with_a_clear_message(tmp_path, hue):
    path = tmp_path / "troupe.toml"
    path.write_text(CONFIG.format(address=hue.address, username=""))
    proc = pair(path, "--timeout", "0.3")
    out = proc.communicate(timeout=20)[0]
    assert proc.returncode == 1
    assert "Gave up after 0 s: the link button was not pressed." in out
    path.write_text("[slack]\nchannel = 'home'\n")
    proc = pair(path)
    assert proc.communicate(timeout=20)[0].startswith(f"{path} has no [hue] bridge")
    assert proc.returncode == 2


def test_username_line_is_replaced_or_added_inside_the_hue_table():
    text = "[hue]\nbridge = 'b'\n\n[lights.x]\nhue = 'X'\nusername = 'not this'\n"
    assert set_username(text, "u1") == (
        "[hue]\nbridge = 'b'\nusername = \"u1\"\n\n[lights.x]\nhue = 'X'\nusername = 'not this'\n")
    assert set_username("[hue]\n  username='a' # x\n", "u2") == "[hue]\n  username = \"u2\"\n"
    assert set_username("[hue]\nbridge='b'", "u3") == "[hue]\nbridge='b'\nusername = \"u3\"\n"


# ---- several Pis ----------------------------------------------------------------------------

def since(text: str) -> str:
    """An answer with its boards' times (`since 12:01`) as `since T`."""
    return re.sub(r"since \d\d:\d\d", "since T", text)


def relay(name: str, state: str, host: str, answered_by: str) -> str:
    """A relay's line in `lights`: read from its pin by its own Pi, else from its board."""
    return f"- {name}: {state} (GPIO 17 on {host}{'' if host == answered_by else ', since T'})"


HOUSE = {"dining": {"hue": "Dining"}, "porch": {"gpio": 17, "host": "pi-2"},
         "shed": {"gpio": 17, "host": "pi-3", "active_high": False}}


class Household:
    """Three Pis on the troupe_sim pin factory, one pin socket each, and a Hue bridge."""

    def __init__(self, tmp_path: Path, hue: HueBridge) -> None:
        self.fed = Federation(
            tmp_path / "fed", 3, plugins=["lights"], gpio=True,
            config={"hue": {"bridge": hue.address, "username": hue.username}, "lights": HOUSE})

    def pins(self, name: str) -> GpioClient:
        return self.fed.gpio(name)

    def ask(self, text: str) -> dict[str, Any]:
        ts = self.fed.say(text)
        answer = self.fed.wait_for_answer(ts)
        answer["by"] = self.fed.host_of(answer)
        return answer

    def __enter__(self) -> Household:
        self.fed.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.fed.stop()


@pytest.mark.multihost
def test_three_pis_toggle_once_switch_the_right_pin_and_list_every_light(tmp_path, hue):
    with Household(tmp_path, hue) as house:
        fed = house.fed
        ts = fed.say("toggle dining light")
        assert fed.wait_for_answer(ts)["text"] == "The dining light is on."
        wait_for(lambda: not fed.ws.pins(), 10, "the claim to be released")
        assert [(c["attr"], c["new"]) for c in hue.changes()] == [("on", True)]
        assert len(fed.answers_to(ts)) == 1

        pi2, pi3 = house.pins("pi-2"), house.pins("pi-3")
        assert pi2.pin(17) == 0 and pi3.pin(17) == 1  # both off; the shed's relay is active low
        answer = house.ask("switch Porch light on")
        assert (answer["by"], answer["text"]) == ("pi-2", "The porch light is on.")
        pi2.wait_for(17, 1, timeout=5)
        assert pi3.state() == {17: {"state": 1, "function": "output"}}  # the shed stays off
        assert not os.path.exists(fed.gpio_socket("pi-1"))  # pi-1 opened no pins

        ts = fed.say("lights")
        answer = fed.wait_for_answer(ts)
        # The relays of the other Pis come from their boards: one read, no broadcast.
        by = fed.host_of(answer)
        assert since(answer["text"]).splitlines() == [
            "Lights:", "- dining: on at 100% (Hue)", relay("porch", "on", "pi-2", by),
            relay("shed", "off", "pi-3", by)]
        wait_for(lambda: not fed.ws.pins(), 10, "the claim to be released")
        assert fed.bot_messages(after=ts) == [answer]  # nothing else: no ask, no replies
        assert answer.get("thread_ts") is None  # the one answer is in the channel

        assert house.ask("switch attic on")["text"] == (
            "I don't know a light called 'attic'. The lights are: dining, porch, shed.")
        assert hue.username not in fed.logs()  # the bridge's key stays out of the logs


@pytest.mark.multihost
def test_a_hue_light_is_claimed_in_order_not_by_every_pi(tmp_path, hue):
    """Preferred claims (the default): any Pi can switch a Hue light, so the Pis take it in
    their agreed order, one pins.add per command, not one per Pi; a GPIO light's Pi claims
    its own at once."""
    with Household(tmp_path, hue) as house:
        fed = house.fed
        house.ask("toggle dining light")  # warm: member lists read, connections open
        wait_for(lambda: not fed.ws.pins(), 10, "the claim to be released")
        before = sum(c.get("pins.add", 0) for c in fed.ws.call_counts().values())
        for _ in range(6):
            house.ask("toggle dining light")
            wait_for(lambda: not fed.ws.pins(), 10, "the claim to be released")
        pins = sum(c.get("pins.add", 0) for c in fed.ws.call_counts().values()) - before
        assert pins <= 9, pins  # one per command, a few more if a pin event came late; not 18
        assert len(hue.changes()) == 7


@pytest.mark.multihost
def test_offline_pis_are_named_and_the_switch_back_survives_its_pi(tmp_path, hue):
    with Household(tmp_path, hue) as house:
        fed = house.fed
        fed.kill("pi-3")
        assert house.ask("switch shed on")["text"] == (
            "Nobody ran `switch shed on`: the shed light is wired to pi-3, which did not answer.")
        asked = house.ask("lights")
        lines = since(asked["text"]).splitlines()
        # pi-3 is gone: its board still says what it last did with the shed, and since when.
        assert lines[1:] == ["- dining: off (Hue)", relay("porch", "off", "pi-2", asked["by"]),
                             relay("shed", "off", "pi-3", asked["by"])]

        answer = house.ask("switch dining on for 2 seconds")
        assert answer["text"].startswith("The dining light is on for 2 seconds: it switches off")
        assert hue.light("Dining")["on"]
        fed.kill(answer["by"])  # the Pi that switched it on is gone before the switch back
        back = wait_for(lambda: [m for m in fed.ws.messages() if m["text"] == "switch dining off"],
                        10, "Slack to post the scheduled switch back")[0]
        assert back["metadata"]["event_type"] == "troupe_command"
        wait_for(lambda: not hue.light("Dining")["on"], 10, "the switch back to run")
        [done] = fed.answers_to(back["ts"])
        assert done["text"] == "The dining light is off." and fed.host_of(done) != answer["by"]


def test_a_gpio_pin_that_fails_gets_a_clear_answer(plugin, mocker):
    """A relay's pin can fail mid-life (a gpiochip gone, EIO): the answer names light, pin, Pi."""
    pin = plugin.outputs[plugin.lights["porch"].key].pin
    mocker.patch.object(pin, "_set_state", side_effect=OSError(5, "Input/output error"))
    expected = "Sorry, the porch light's GPIO 17 on pi-2 failed: [Errno 5] Input/output error."
    assert run(plugin, "toggle porch light") == expected
    assert run(plugin, "switch porch on") == expected
    mocker.stopall()
    assert run(plugin, "switch porch on") == "The porch light is on."
