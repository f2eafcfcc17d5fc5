"""Sensors: events posted once per cool-down by their own Pi; one gathered `sensors` answer."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockChargingPin, MockFactory
from troupe_plugins.sensors.devices import SensorSpec, Temperature, make_sensor, read_w1

from troupe.check import check_config
from troupe.config import ConfigError
from troupe.testing import Federation, dump_toml, wait_for

SECRET = {"TROUPE_FEDERATION_SECRET": "a-secret-every-pi-of-the-house-shares"}

PLUGINS = Path(__file__).parent / "plugins"
W1_SLAVE = "72 01 4b 46 7f ff 0e 10 57 : crc=57 {ok}\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"


# ---- in-process: readings and thresholds -------------------------------------------------
@pytest.fixture
def mock_pins():
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()


def test_ds18b20_files_and_a_failed_crc(tmp_path):
    slave, plain = tmp_path / "w1_slave", tmp_path / "temperature"
    slave.write_text(W1_SLAVE.format(ok="YES"))
    plain.write_text("-1500\n")
    assert read_w1(slave) == 23.125 and read_w1(plain) == -1.5
    slave.write_text(W1_SLAVE.format(ok="NO"))
    sensor = Temperature(SensorSpec("cellar", "temperature", "pi-1", device="28-0000071a2b3c",
                                    file=str(slave)), lambda s, e: None)
    assert sensor.reading().startswith("unreadable (ValueError: ")


def test_temperature_posts_when_crossing_a_threshold_not_on_first_read(tmp_path, mock_pins):
    temp = tmp_path / "temp"
    temp.write_text("40000\n")
    events = []
    sensor = make_sensor(SensorSpec("attic", "temperature", "pi-1", file=str(temp), above=45,
                                    below=5), lambda s, e: events.append(e))
    try:
        sensor.poll()
        assert sensor.reading() == "40.0 °C" and events == []
        for milli in (46000, 47000, 30000, 4000, 46000):
            temp.write_text(f"{milli}\n")
            sensor.poll()
        assert events == ["above", "below", "above"]
        assert sensor.spec.text("above", sensor.reading()).startswith(
            ":thermometer: The attic is at 46.0 °C (last above ")
    finally:
        sensor.close()


def test_light_sensor_reading(mock_pins):
    Device.pin_factory = MockFactory(pin_class=MockChargingPin)
    sensor = make_sensor(SensorSpec("porch", "light", "pi-1", gpio=18), lambda s, e: None)
    try:
        Device.pin_factory.pin(18).charge_time = 0.5  # slow to charge: dark
        wait_for(lambda: sensor.reading().startswith("dark"), 5, "a dark reading")
        Device.pin_factory.pin(18).charge_time = 0.0001
        wait_for(lambda: sensor.reading().startswith("light"), 5, "a light reading")
    finally:
        sensor.close()


# ---- troupe check ---------------------------------------------------------------------------
def test_check_reports_each_sensor_mistake_by_key(tmp_path):
    raw = {
        "slack": {"bot_token": "xoxb-1", "app_token": "xapp-1", "channel": "home"},
        "plugins": {"enabled": ["sensors", "probe"], "paths": [str(PLUGINS)]},
        "probe": {"log": str(tmp_path / "runs.log")},
        "troupe": {"lease": 10},
        "sensors": {
            "answer_wait": 12,
            "ok": {"type": "motion", "gpio": 4, "host": "pi-1", "run": "count 1"},
            "kind": {"type": "smoke", "gpio": 5, "host": "pi-1"},
            "nopin": {"type": "door", "host": "pi-1"},
            "badpin": {"type": "door", "gpio": 40, "host": "pi-1"},
            "twice": {"type": "light", "gpio": 4, "host": "pi-1"},
            "nohost": {"type": "motion", "gpio": 6},
            "cool": {"type": "motion", "gpio": 7, "host": "pi-1", "cooldown": -1},
            "runs": {"type": "motion", "gpio": 8, "host": "pi-1", "run": "cont 1"},
            "when": {"type": "door", "gpio": 9, "host": "pi-1", "when": "motion"},
            "probe": {"type": "temperature", "host": "pi-2", "device": "29x", "gpio": 4},
            "extra": {"type": "motion", "gpio": 10, "host": "pi-1", "colldown": 5},
            "flat": 3,
        },
    }
    path = tmp_path / "troupe.toml"
    path.write_text(dump_toml(raw))
    with pytest.raises(ConfigError) as e:
        check_config(path, env=SECRET)
    found = {p.key: str(p) for p in e.value.problems}
    assert "fewer seconds than [troupe] lease" in found.pop("sensors.answer_wait")
    assert "one of motion, door, light, temperature" in found.pop("sensors.kind.type")
    assert "missing" in found.pop("sensors.nopin.gpio")
    assert "BCM pin number 0-27" in found.pop("sensors.badpin.gpio")
    assert "already used on pi-1 by sensors.ok" in found.pop("sensors.twice.gpio")
    assert "missing" in found.pop("sensors.nohost.host")
    assert ">= 0" in found.pop("sensors.cool.cooldown")
    assert "did you mean `count <n>`" in found.pop("sensors.runs.run")
    assert "open, closed, any" in found.pop("sensors.when.when")
    assert "DS18B20" in found.pop("sensors.probe.device")
    assert "no gpio for a temperature sensor" in found.pop("sensors.probe.gpio")
    assert "unknown key" in found.pop("sensors.extra.colldown")
    assert "a table" in found.pop("sensors.flat")
    assert found == {}  # nothing else, and sensors.ok is fine


# ---- several Pis, pins driven over troupe.sim.gpio ---------------------------------------
@pytest.fixture(scope="module")
def house(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sensors")
    (tmp / "cpu_temp").write_text("41234\n")
    sensors = {
        "answer_wait": 3,
        "hallway": {"type": "motion", "gpio": 4, "host": "pi-1", "run": "count 1"},
        "front": {"type": "door", "gpio": 17, "host": "pi-2", "cooldown": 0},
        "attic": {"type": "temperature", "host": "pi-2", "file": str(tmp / "cpu_temp")},
        "shed": {"type": "temperature", "host": "pi-9", "device": "28-0000071a2b3c"},
    }
    fed = Federation(tmp / "fed", 3, gpio=True, plugins=["sensors", "probe"],
                     plugin_paths=[PLUGINS],
                     config={"sensors": sensors, "probe": {"log": str(tmp / "runs.log")}})
    with fed:
        fed.runs_log = tmp / "runs.log"
        yield fed
        print(fed.logs())  # shown by pytest only when a test failed


def posts(fed: Federation, text: str) -> list[dict]:
    return [m for m in fed.bot_messages() if text in m["text"]]


def log_count(fed: Federation, host: str, text: str) -> int:
    return fed.log(host).count(text)


@pytest.mark.multihost
def test_motion_posts_once_per_cooldown_from_its_own_pi(house):
    pi1 = house.gpio("pi-1")
    pi1.drive(4, 1)
    post = wait_for(lambda: posts(house, "Motion in the hallway"), 20, "the motion post")[0]
    assert post["text"] == ":footprints: Motion in the hallway"
    assert post.get("thread_ts") in (None, post["ts"])  # in the channel
    assert house.host_of(post) == "pi-1"
    # `run` is posted in the event's thread and the federation runs it once.
    wait_for(lambda: [m for m in house.bot_messages(thread_ts=post["ts"])
                      if m["text"] == "counted 1"], 20, "the run command's answer")
    for n in range(1, 4):  # flapping: every edge seen by the sensor, none posted
        pi1.drive(4, 0)
        wait_for(lambda n=n: log_count(house, "pi-1", "hallway: no motion") == n, 10, "no motion")
        pi1.drive(4, 1)
        wait_for(lambda n=n: log_count(house, "pi-1", "hallway: motion,") == n + 1, 10, "motion")
    wait_for(lambda: not house.ws.pins(), 10, "every claim released")
    assert len(posts(house, "Motion in the hallway")) == 1
    assert log_count(house, "pi-1", "hallway: motion, quiet (cool-down") == 3
    assert collections.Counter(house.runs_log.read_text().split()[1::3]) == {"1": 1}
    assert all("sensor hallway" not in house.log(h) for h in ("pi-2", "pi-3"))


@pytest.mark.multihost
def test_door_opening_posts_from_the_door_pi(house):
    pi2 = house.gpio("pi-2")
    pi2.drive(17, 0)  # closed: logged, not posted (the default `when` is "open")
    wait_for(lambda: log_count(house, "pi-2", "sensor front: closed") == 1, 10, "closed")
    pi2.drive(17, 1)
    post = wait_for(lambda: posts(house, "The front is open"), 20, "the door post")
    assert [house.host_of(m) for m in post] == ["pi-2"]


def board(fed: Federation, host: str) -> dict:
    """The fields of `host`'s board, as the channel holds it now."""
    boards = [m for m in fed.ws.messages() if fed.host_of(m) == host
              and (m.get("metadata") or {}).get("event_type") == "troupe_board"]
    return (boards[-1]["metadata"].get("event_payload") or {}) if boards else {}


def from_board(line: str) -> str:
    return re.sub(r" \(read \d\d:\d\d:\d\d\)$", " (read T)", line)


@pytest.mark.multihost
def test_sensors_answers_once_from_the_boards(house):
    """Each Pi keeps its readings on its board; `sensors` is one answer from one read of the
    boards: no broadcast, no replies."""
    house.gpio("pi-2").drive(17, 0)  # door closed, whatever the test order
    wait_for(lambda: "closed" in str(board(house, "pi-2").get("sensors", {}).get("front")), 10,
             "pi-2's board to show the door closed")
    ts = house.say("sensors")
    answer = house.wait_for_answer(ts)
    winner = house.host_of(answer)
    lines = [from_board(line) for line in answer["text"].splitlines()]
    read = {h: "" if h == winner else " (read T)" for h in ("pi-1", "pi-2")}
    assert lines[0] == "Sensors:"
    assert lines[1].startswith("pi-1: hallway (motion): ") and lines[1].endswith(read["pi-1"])
    assert lines[2].startswith("pi-2: front (door): closed") and lines[2].endswith(read["pi-2"])
    assert lines[3] == f"pi-2: attic (temperature): 41.2 °C{read['pi-2']}"
    assert lines[4] == "pi-9: nothing on its board" and len(lines) == 5
    wait_for(lambda: not house.ws.pins(), 10, "every claim released")
    assert house.bot_messages(after=ts) == [answer]  # nothing else, in the channel or a thread



@pytest.mark.multihost
def test_the_sensors_panel_refreshes_in_place(house):
    """Issue 15: `sensors` is a panel; its Refresh button reads the boards again and edits
    the panel in place, running nothing and posting nothing."""
    house.gpio("pi-2").drive(17, 0)
    wait_for(lambda: "closed" in str(board(house, "pi-2").get("sensors", {}).get("front")), 10,
             "pi-2's board to show the door closed")
    answer = house.wait_for_answer(house.say("sensors"))
    assert "pi-2: front (door): closed" in answer["text"]
    house.gpio("pi-2").drive(17, 1)  # the door opens
    wait_for(lambda: "open" in str(board(house, "pi-2").get("sensors", {}).get("front")), 10,
             "pi-2's board to show the door open")
    house.ws.click(answer["ts"], "refresh")
    panel = lambda: next(m for m in house.ws.messages() if m["ts"] == answer["ts"])  # noqa: E731
    wait_for(lambda: "pi-2: front (door): open" in panel()["text"], 15,
             "the panel read again, in place")
    assert panel()["blocks"][0]["accessory"]["action_id"] == "refresh"
    assert house.bot_messages(thread_ts=answer["ts"]) == []  # nothing posted, nothing run
