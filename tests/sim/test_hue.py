"""phue, unchanged, against the Hue bridge emulator over HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import threading

import phue
import pytest

from troupe.sim.hue import HueBridge


@pytest.fixture
def hue():
    with HueBridge(lights=["Dining", "Lounge", "Porch"], port=0) as bridge:
        yield bridge


@pytest.fixture
def bridge(hue, tmp_path):
    return phue.Bridge(hue.address, username=hue.username,
                       config_file_path=str(tmp_path / "python_hue"))


def raw(hue: HueBridge, method: str, path: str, body=None):
    conn = http.client.HTTPConnection(hue.address, timeout=5)
    conn.request(method, path, None if body is None else json.dumps(body))
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    assert resp.status == 200  # the bridge answers errors in the body, not the status
    return data


def test_info_and_address(hue):
    host, port = hue.address.split(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert hue.info == {"address": hue.address, "username": hue.username}


def test_list_lights(bridge):
    lights = bridge.get_light_objects("name")
    assert sorted(lights) == ["Dining", "Lounge", "Porch"]
    assert bridge["Dining"].type == "Dimmable light"
    assert bridge["Porch"].type == "On/off plug-in unit"
    assert bridge["Lounge"].reachable is True
    api = bridge.get_api()
    assert set(api) >= {"lights", "groups", "config"}
    assert api["config"]["whitelist"]


def test_on_off_and_brightness(hue, bridge):
    bridge.set_light("Dining", "on", True)
    assert hue.light("Dining")["on"] is True
    assert bridge.get_light("Dining", "on") is True
    bridge["Dining"].brightness = 100
    assert hue.light("Dining")["bri"] == 100
    result = bridge.set_light("Dining", {"on": False})
    assert result == [[{"success": {"/lights/1/state/on": False}}]]
    assert hue.light("Dining")["on"] is False
    flips = [(c["light"], c["attr"], c["new"]) for c in hue.changes()]
    assert flips == [("Dining", "on", True), ("Dining", "bri", 100), ("Dining", "on", False)]


def test_brightness_errors_are_shaped_like_the_bridge(hue, bridge):
    # off: bri is not modifiable
    [[item]] = bridge.set_light(1, "bri", 50)
    assert item["error"]["type"] == 201
    assert item["error"]["address"] == "/lights/1/state/bri"
    # a plug has no bri
    bridge.set_light("Porch", "on", True)
    [[item]] = bridge.set_light("Porch", "bri", 10)
    assert item["error"] == {"type": 6, "address": "/lights/3/state/bri",
                             "description": "parameter, bri, not available"}
    assert hue.light("Porch") == {"on": True, "alert": "none", "mode": "homeautomation",
                                  "reachable": True}
    # out of range
    [[ok, bad]] = bridge.set_light(2, {"on": True, "bri": 999})
    assert ok == {"success": {"/lights/2/state/on": True}}
    assert bad["error"]["type"] == 7
    assert hue.light("Lounge")["bri"] == 254


def test_group_action(hue, bridge):
    groups = bridge.get_group()
    assert [g["name"] for g in groups.values()] == ["Downstairs"]
    gid = bridge.get_group_id_by_name("Downstairs")
    assert sorted(bridge.get_group(gid, "lights")) == ["1", "2"]
    bridge.set_group(gid, "on", True)
    assert hue.light("Dining")["on"] and hue.light("Lounge")["on"]
    assert not hue.light("Porch")["on"]
    assert bridge.get_group(gid)["state"] == {"all_on": True, "any_on": True}
    [[item]] = bridge.set_group(gid, "bri", 30)
    assert item == {"success": {f"/groups/{gid}/action/bri": 30}}
    assert hue.light("Dining")["bri"] == 30 and hue.light("Lounge")["bri"] == 30
    via = {c["via"] for c in hue.changes()}
    assert via == {"group:Downstairs"}


def test_group_zero_is_every_light_and_plugs_skip_bri(hue, bridge):
    phue.AllLights(bridge).on = True
    assert all(hue.light(n)["on"] for n in ("Dining", "Lounge", "Porch"))
    bridge.set_group(0, "bri", 5)
    assert hue.light("Dining")["bri"] == 5
    assert "bri" not in hue.light("Porch")


def test_registration_needs_the_link_button(hue, tmp_path):
    cfg = tmp_path / "python_hue"
    with pytest.raises(phue.PhueRegistrationException) as err:
        phue.Bridge(hue.address, config_file_path=str(cfg))
    assert err.value.id == 101
    assert not cfg.exists()
    assert raw(hue, "POST", "/api", {"devicetype": "x"}) == [
        {"error": {"type": 101, "address": "", "description": "link button not pressed"}}]

    hue.press_link_button()
    registered = phue.Bridge(hue.address, config_file_path=str(cfg))
    assert registered.username in hue.users()
    assert registered.username != hue.username
    assert json.loads(cfg.read_text()) == {hue.address: {"username": registered.username}}
    registered.set_light("Lounge", "on", True)
    assert hue.light("Lounge")["on"] is True


def test_registration_body_errors(hue):
    hue.press_link_button()
    assert raw(hue, "POST", "/api", {})[0]["error"]["type"] == 5
    conn = http.client.HTTPConnection(hue.address, timeout=5)
    conn.request("POST", "/api", b"{not json")
    assert json.loads(conn.getresponse().read())[0]["error"]["type"] == 2
    conn.close()


def test_unauthorized_user(hue, tmp_path):
    stranger = phue.Bridge(hue.address, username="nobody",
                           config_file_path=str(tmp_path / "cfg"))
    assert stranger.get_light() == [
        {"error": {"type": 1, "address": "/lights", "description": "unauthorized user"}}]
    assert raw(hue, "PUT", "/api/nobody/lights/1/state", {"on": True})[0]["error"]["type"] == 1
    assert hue.light("Dining")["on"] is False
    # like the bridge, /config answers a short public config to anyone
    public = raw(hue, "GET", "/api/nobody/config")
    assert "bridgeid" in public and "whitelist" not in public


def test_unknown_light_error_shape(hue, bridge):
    assert raw(hue, "GET", f"/api/{hue.username}/lights/9") == [
        {"error": {"type": 3, "address": "/lights/9",
                   "description": "resource, /lights/9, not available"}}]
    [[item]] = bridge.set_light(9, "on", True)
    assert item["error"]["type"] == 3
    with pytest.raises(KeyError):
        bridge["Attic"]
    assert hue.changes() == []


def test_unreachable_light_is_reported(hue, bridge):
    hue.set_reachable("Lounge", False)
    assert bridge["Lounge"].reachable is False
    bridge.set_light("Lounge", "on", True)  # accepted, as the bridge does
    assert hue.light("Lounge")["on"] is True
    assert hue.light("Lounge")["reachable"] is False
    hue.set_reachable("Lounge", True)
    assert bridge["Lounge"].reachable is True


def test_rename_light(hue, bridge):
    bridge["Porch"].name = "Front porch"
    assert hue.lights() == ["Dining", "Lounge", "Front porch"]


def test_concurrent_writes_are_all_recorded(hue):
    def flip(n: int) -> None:
        b = phue.Bridge(hue.address, username=hue.username, config_file_path="/nonexistent")
        for i in range(n):
            b.set_light(1, {"on": i % 2 == 0})

    threads = [threading.Thread(target=flip, args=(10,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len([c for c in hue.changes() if c["attr"] == "on"]) == 40


def test_custom_plugs_and_groups_are_checked():
    with pytest.raises(ValueError):
        HueBridge(lights=["A"], plugs=["B"])
    with pytest.raises(ValueError, match="'G'"):
        HueBridge(lights=["A"], groups={"G": ["B"]})
    with HueBridge(lights=["A", "B"], plugs=[], groups={}, port=0) as hue:
        assert "bri" in hue.light("A") and "bri" in hue.light("B")
        assert raw(hue, "GET", f"/api/{hue.username}/groups") == {}


def test_listeners_hear_each_change_as_the_bridge_applies_it(hue, bridge):
    heard: list[dict] = []

    def listener(change: dict) -> None:
        heard.append(change)
        assert hue.light(change["light"])[change["attr"]] == change["new"]  # already applied

    def broken(change: dict) -> None:
        raise ValueError("listener bug")

    hue.add_listener(broken)
    hue.add_listener(listener)
    answer = bridge.set_light("Dining", {"on": True, "bri": 50})
    assert all("success" in item for item in answer[0])  # a broken listener fails nothing
    bridge.get_light("Dining")  # reads are not changes
    hue.set_reachable("Lounge", False)
    assert [(c["light"], c["attr"], c["new"], c["via"]) for c in heard] == [
        ("Dining", "on", True, "light"), ("Dining", "bri", 50, "light"),
        ("Lounge", "reachable", False, "sim"),
    ]
    assert hue.remove_listener(listener) is True
    assert hue.remove_listener(listener) is False
    bridge.set_light("Dining", "on", False)
    assert len(heard) == 3
    assert [c["attr"] for c in hue.changes()] == ["on", "bri", "on"]  # reachable is no write
