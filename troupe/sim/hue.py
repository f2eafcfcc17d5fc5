"""A Philips Hue bridge emulator speaking the Hue API v1 over HTTP.

`phue` talks to it unchanged: ``phue.Bridge(hue.address, username=hue.username)``
works because phue hands its ``ip`` straight to ``http.client.HTTPConnection``,
which accepts ``"host:port"``.

What it does the way a real bridge does:

- every answer is HTTP 200 with a JSON body; failures are a list of
  ``{"error": {"type", "address", "description"}}`` items;
- ``POST /api`` with a ``devicetype`` registers a user only within 30 s of a
  press of the link button (error 101 otherwise);
- an unknown user gets error 1 (``unauthorized user``) except on ``/config``,
  which answers a short public config as the bridge does;
- ``PUT /lights/<id>/state`` and ``/groups/<id>/action`` answer one
  ``success`` or ``error`` item per attribute; ``bri`` on a light that is off
  fails with 201, on an on/off plug with 6; group 0 is every light.

An unreachable light still accepts commands and reports the new state (the
bridge cannot know the lamp missed it); only ``reachable`` tells.

Usage::

    with HueBridge(lights=["Dining", "Lounge", "Porch"], port=0) as hue:
        bridge = phue.Bridge(hue.address, username=hue.username)
        bridge.set_light("Dining", "on", True)
        hue.light("Dining")["on"]      # True
        hue.changes()                  # every accepted write, in order
        hue.add_listener(print)        # each change as it is made (a real bridge has no push)
"""

from __future__ import annotations

import copy
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

__all__ = ["HueBridge", "LINK_WINDOW_S"]

log = logging.getLogger(__name__)

LINK_WINDOW_S = 30.0
MAX_DEVICETYPE = 40  # the bridge refuses longer names (error 7)
DIMMABLE = "Dimmable light"
PLUG = "On/off plug-in unit"
_DEFAULT_PLUGS = ("Porch",)
_DEFAULT_GROUPS = {"Downstairs": ("Dining", "Lounge")}


def _error(kind: int, address: str, description: str) -> dict[str, Any]:
    return {"error": {"type": kind, "address": address, "description": description}}


class HueBridge:
    """An emulated bridge serving on 127.0.0.1 from a background thread.

    ``lights`` are dimmable lights except those named in ``plugs`` (on/off
    plug-in units, no ``bri``). By default "Porch" is a plug and "Downstairs"
    groups Dining and Lounge, when those lights exist.
    """

    def __init__(
        self,
        lights: Iterable[str] = ("Dining", "Lounge", "Porch"),
        *,
        plugs: Iterable[str] | None = None,
        groups: Mapping[str, Iterable[str]] | None = None,
        port: int = 0,
        name: str = "Troupe Hue",
    ) -> None:
        names = list(lights)
        if len(set(names)) != len(names):
            raise ValueError(f"light names must be unique: {names}")
        if plugs is None:
            plugs = [p for p in _DEFAULT_PLUGS if p in names]
        if groups is None:
            groups = {g: m for g, m in _DEFAULT_GROUPS.items() if set(m) <= set(names)}
        plugs = list(plugs)
        for p in plugs:
            if p not in names:
                raise ValueError(f"plug {p!r} is not one of the lights {names}")
        self._lock = threading.Lock()
        self._lights: dict[str, dict[str, Any]] = {}
        for i, light in enumerate(names, start=1):
            self._lights[str(i)] = self._new_light(light, i, plug=light in plugs)
        self._groups: dict[str, dict[str, Any]] = {}
        for gi, (gname, members) in enumerate(groups.items(), start=1):
            unknown = [m for m in members if m not in names]
            if unknown:
                raise ValueError(f"group {gname!r}: {unknown} are not among the lights {names}")
            ids = [self._id_of(m) for m in members]
            self._groups[str(gi)] = {
                "name": gname,
                "lights": ids,
                "type": "Room",
                "class": "Living room",
                "action": {"on": False, "bri": 254, "alert": "none"},
                "sensors": [],
                "recycle": False,
            }
        self._config = {
            "name": name,
            "bridgeid": "001788FFFE" + secrets.token_hex(3).upper(),
            "mac": "00:17:88:00:00:01",
            "modelid": "BSB002",
            "swversion": "1955082050",
            "apiversion": "1.55.0",
            "datastoreversion": "131",
            "factorynew": False,
            "replacesbridgeid": None,
            "starterkitid": "",
        }
        self.username = secrets.token_hex(20)
        self._users: dict[str, dict[str, str]] = {
            self.username: {"name": "troupe#preregistered"}
        }
        self._link_until = 0.0
        self._changes: list[dict[str, Any]] = []
        self._listeners: tuple[Callable[[dict[str, Any]], None], ...] = ()
        self._requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> HueBridge:
        handler = type("_BoundHandler", (_Handler,), {"bridge": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self._requested_port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name="hue-bridge", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> HueBridge:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test-facing API ---------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the bridge is not started")
        return self._server.server_address[1]

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``: what phue takes as its ``ip``."""
        return f"127.0.0.1:{self.port}"

    @property
    def info(self) -> dict[str, str]:
        return {"address": self.address, "username": self.username}

    def press_link_button(self) -> None:
        """Open the 30 s window in which ``POST /api`` registers a user."""
        with self._lock:
            self._link_until = time.monotonic() + LINK_WINDOW_S

    def light(self, name: str) -> dict[str, Any]:
        """A copy of the light's state dict (``on``, ``bri``, ``reachable`` ...)."""
        with self._lock:
            return copy.deepcopy(self._lights[self._id_of(name)]["state"])

    def lights(self) -> list[str]:
        with self._lock:
            return [light["name"] for light in self._lights.values()]

    def set_reachable(self, name: str, reachable: bool) -> None:
        with self._lock:
            state = self._lights[self._id_of(name)]["state"]
            old, state["reachable"] = state["reachable"], bool(reachable)
        self._notify([{"light": name, "attr": "reachable", "old": old, "new": bool(reachable),
                       "via": "sim", "time": time.time()}])

    def add_listener(self, fn: Callable[[dict[str, Any]], None]) -> None:
        """Call ``fn(change)`` after every accepted state write, as ``changes()`` records it,
        and after ``set_reachable`` (``"via": "sim"``). ``fn`` runs on the thread that
        served the request, after the bridge's lock is released (it may read the bridge);
        an exception in it is logged and ignored."""
        self._listeners = (*self._listeners, fn)

    def remove_listener(self, fn: Callable[[dict[str, Any]], None]) -> bool:
        """Stop calling ``fn`` (compared with ``==``); False when it was not listening."""
        kept = tuple(f for f in self._listeners if f != fn)
        found = len(kept) != len(self._listeners)
        self._listeners = kept
        return found

    def _notify(self, changes: list[dict[str, Any]]) -> None:
        for change in changes:
            for fn in self._listeners:
                try:
                    fn(copy.deepcopy(change))
                except Exception:  # a listener's bug must not fail the request
                    log.exception("Hue emulator listener %r failed", fn)

    def changes(self) -> list[dict[str, Any]]:
        """Every accepted state write, oldest first.

        Each is ``{"light", "attr", "old", "new", "via", "time"}``; ``via`` is
        ``"light"`` or ``"group:<name>"``; ``time`` is when the bridge applied it
        (epoch seconds). Writes that change nothing (``old == new``) are kept so
        a test can see a command that ran twice.
        """
        with self._lock:
            return copy.deepcopy(self._changes)

    def users(self) -> list[str]:
        with self._lock:
            return list(self._users)

    # -- model -------------------------------------------------------------

    @staticmethod
    def _new_light(name: str, index: int, *, plug: bool) -> dict[str, Any]:
        state: dict[str, Any] = {"on": False}
        if not plug:
            state["bri"] = 254
        state.update({"alert": "none", "mode": "homeautomation", "reachable": True})
        return {
            "state": state,
            "type": PLUG if plug else DIMMABLE,
            "name": name,
            "modelid": "LOM001" if plug else "LWB010",
            "manufacturername": "Signify Netherlands B.V." if plug else "Philips",
            "productname": "Hue Smart plug" if plug else "Hue white lamp",
            "uniqueid": f"00:17:88:01:00:00:00:{index:02x}-0b",
            "swversion": "1.93.11",
        }

    def _id_of(self, name: str) -> str:
        for lid, light in self._lights.items():
            if light["name"] == name:
                return lid
        known = [v["name"] for v in self._lights.values()]
        raise KeyError(f"no light named {name!r}; lights: {known}")

    def _group_view(self, gid: str) -> dict[str, Any]:
        if gid == "0":
            group = {"name": "Group 0", "lights": list(self._lights), "type": "LightGroup",
                     "action": {"on": False, "alert": "none"}, "sensors": [], "recycle": False}
        else:
            group = copy.deepcopy(self._groups[gid])
        ons = [self._lights[i]["state"]["on"] for i in group["lights"]]
        group["state"] = {"all_on": bool(ons) and all(ons), "any_on": any(ons)}
        return group

    def _full_state(self) -> dict[str, Any]:
        return {
            "lights": copy.deepcopy(self._lights),
            "groups": {gid: self._group_view(gid) for gid in self._groups},
            "config": self._private_config(),
            "schedules": {},
            "scenes": {},
            "rules": {},
            "sensors": {},
            "resourcelinks": {},
        }

    def _private_config(self) -> dict[str, Any]:
        cfg = copy.deepcopy(self._config)
        cfg.update({
            "ipaddress": "127.0.0.1",
            "linkbutton": time.monotonic() < self._link_until,
            "whitelist": copy.deepcopy(self._users),
        })
        return cfg

    def _apply(self, lid: str, body: dict[str, Any], prefix: str, via: str) -> list[dict]:
        """Apply a state body to one light; one result item per attribute."""
        light = self._lights[lid]
        state = light["state"]
        results: list[dict] = []
        turning_on = body.get("on") is True
        for attr, value in body.items():
            addr = f"{prefix}/{attr}"
            if attr not in _VALID:
                results.append(_error(6, addr, f"parameter, {attr}, not available"))
                continue
            if not _VALID[attr](value):
                results.append(_error(7, addr, f"invalid value, {value}, for parameter, {attr}"))
                continue
            if attr == "transitiontime":
                results.append({"success": {addr: value}})
                continue
            echo = value
            if attr in ("bri", "bri_inc"):
                if "bri" not in state:
                    results.append(_error(6, addr, f"parameter, {attr}, not available"))
                    continue
                if not state["on"] and not turning_on:
                    results.append(_error(
                        201, addr, f"parameter, {attr}, is not modifiable. Device is set to off."))
                    continue
                if attr == "bri_inc":  # a step from the current brightness, kept in 1..254
                    attr, value = "bri", min(254, max(1, state["bri"] + value))
                value = max(1, value)
            old = state.get(attr)
            state[attr] = value
            self._changes.append({
                "light": light["name"], "attr": attr, "old": old, "new": value, "via": via,
                "time": time.time(),
            })
            results.append({"success": {addr: echo}})
        return results

    # -- HTTP dispatch: one request at a time under the lock -----------------

    def handle(self, method: str, path: str, raw: bytes) -> Any:
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if not parts or parts[0] != "api":
            return [_error(4, path, f"method, {method}, not available for resource, {path}")]
        with self._lock:
            seen = len(self._changes)
            answer = self._handle(method, parts, raw)
            made = copy.deepcopy(self._changes[seen:])
        if made:
            self._notify(made)
        return answer

    def _handle(self, method: str, parts: list[str], raw: bytes) -> Any:
        """Answers one request; the caller holds the lock."""
        if len(parts) == 1:
            if method == "POST":
                return self._register(raw)
            return [_error(4, "/", f"method, {method}, not available for resource, /")]
        user, rest = parts[1], parts[2:]
        if user == "config" and not rest and method == "GET":
            return self._public_config()
        if user not in self._users:
            if rest == ["config"] and method == "GET":
                return self._public_config()
            return [_error(1, "/" + "/".join(rest), "unauthorized user")]
        return self._route(method, rest, raw)

    def _public_config(self) -> dict[str, Any]:
        return copy.deepcopy(self._config)

    def _register(self, raw: bytes) -> list[dict]:
        body = _parse(raw)
        if body is None:
            return [_error(2, "", "body contains invalid json")]
        devicetype = body.get("devicetype") if isinstance(body, dict) else None
        if not isinstance(devicetype, str) or not devicetype:
            return [_error(5, "", "invalid/missing parameters in body")]
        if len(devicetype) > MAX_DEVICETYPE:
            return [_error(7, "/devicetype",
                           f"invalid value, {devicetype}, for parameter, devicetype")]
        if time.monotonic() >= self._link_until:
            return [_error(101, "", "link button not pressed")]
        username = secrets.token_hex(20)
        self._users[username] = {"name": devicetype}
        success = {"username": username}
        if body.get("generateclientkey") is True:  # the Entertainment API's key (16 bytes, hex)
            success["clientkey"] = secrets.token_hex(16).upper()
        return [{"success": success}]

    def description_xml(self) -> str:
        """``GET /description.xml``: the UPnP description discovery tools read."""
        cfg = self._config
        serial = cfg["mac"].replace(":", "").lower()
        return (
            '<?xml version="1.0" encoding="UTF-8" ?>\n'
            '<root xmlns="urn:schemas-upnp-org:device-1-0">\n'
            "<specVersion><major>1</major><minor>0</minor></specVersion>\n"
            f"<URLBase>http://{self.address}/</URLBase>\n"
            "<device>\n"
            "<deviceType>urn:schemas-upnp-org:device:Basic:1</deviceType>\n"
            f"<friendlyName>{escape(cfg['name'])} (127.0.0.1)</friendlyName>\n"
            "<manufacturer>Signify</manufacturer>\n"
            "<manufacturerURL>http://www.philips-hue.com</manufacturerURL>\n"
            "<modelDescription>Philips hue Personal Wireless Lighting</modelDescription>\n"
            "<modelName>Philips hue bridge 2015</modelName>\n"
            f"<modelNumber>{cfg['modelid']}</modelNumber>\n"
            "<modelURL>http://www.philips-hue.com</modelURL>\n"
            f"<serialNumber>{serial}</serialNumber>\n"
            f"<UDN>uuid:2f402f80-da50-11e1-9b23-{serial}</UDN>\n"
            "<presentationURL>index.html</presentationURL>\n"
            "</device>\n"
            "</root>\n"
        )

    def _route(self, method: str, rest: list[str], raw: bytes) -> Any:
        addr = "/" + "/".join(rest)
        not_allowed = [_error(4, addr, f"method, {method}, not available for resource, {addr}")]
        if not rest:
            return self._full_state() if method == "GET" else not_allowed
        kind, tail = rest[0], rest[1:]
        if kind == "config" and not tail:
            return self._private_config() if method == "GET" else not_allowed
        if kind in ("schedules", "scenes", "rules", "sensors", "resourcelinks") and not tail:
            return {} if method == "GET" else not_allowed
        if kind == "lights":
            return self._route_lights(method, tail, raw, addr, not_allowed)
        if kind == "groups":
            return self._route_groups(method, tail, raw, addr, not_allowed)
        return [_error(3, addr, f"resource, {addr}, not available")]

    def _route_lights(self, method, tail, raw, addr, not_allowed) -> Any:
        if not tail:
            return copy.deepcopy(self._lights) if method == "GET" else not_allowed
        lid = tail[0]
        if lid not in self._lights:
            return [_error(3, f"/lights/{lid}", f"resource, /lights/{lid}, not available")]
        if len(tail) == 1:
            if method == "GET":
                return copy.deepcopy(self._lights[lid])
            if method == "PUT":
                return self._rename(self._lights[lid], raw, f"/lights/{lid}")
            return not_allowed
        if tail[1:] == ["state"]:
            if method != "PUT":
                return not_allowed
            body = _parse(raw)
            if not isinstance(body, dict):
                return [_error(2, addr, "body contains invalid json")]
            return self._apply(lid, body, addr, via="light")
        return [_error(3, addr, f"resource, {addr}, not available")]

    def _route_groups(self, method, tail, raw, addr, not_allowed) -> Any:
        if not tail:
            if method == "GET":
                return {gid: self._group_view(gid) for gid in self._groups}
            return not_allowed
        gid = tail[0]
        if gid != "0" and gid not in self._groups:
            return [_error(3, f"/groups/{gid}", f"resource, /groups/{gid}, not available")]
        if len(tail) == 1:
            if method == "GET":
                return self._group_view(gid)
            if method == "PUT" and gid != "0":
                return self._rename(self._groups[gid], raw, f"/groups/{gid}")
            return not_allowed
        if tail[1:] == ["action"]:
            if method != "PUT":
                return not_allowed
            body = _parse(raw)
            if not isinstance(body, dict):
                return [_error(2, addr, "body contains invalid json")]
            return self._group_action(gid, body, addr)
        return [_error(3, addr, f"resource, {addr}, not available")]

    def _group_action(self, gid: str, body: dict[str, Any], addr: str) -> list[dict]:
        """Apply to every member; the answer is per attribute, as the bridge gives it.

        Members that cannot take an attribute (a plug and ``bri``) skip it
        silently, like a real bridge does for a mixed group.
        """
        view = self._group_view(gid)
        via = f"group:{view['name']}"
        results: list[dict] = []
        for attr, value in body.items():
            item_addr = f"{addr}/{attr}"
            if attr not in _VALID:
                results.append(_error(6, item_addr, f"parameter, {attr}, not available"))
                continue
            if not _VALID[attr](value):
                results.append(
                    _error(7, item_addr, f"invalid value, {value}, for parameter, {attr}"))
                continue
            if attr != "transitiontime":
                for lid in view["lights"]:
                    state = self._lights[lid]["state"]
                    if attr not in state and attr != "bri_inc":
                        continue
                    if attr == "bri_inc" and "bri" not in state:
                        continue
                    if attr in ("bri", "bri_inc") and not state["on"] \
                            and body.get("on") is not True:
                        continue
                    self._apply(lid, {attr: value}, f"/lights/{lid}/state", via=via)
                if gid in self._groups and attr != "bri_inc":
                    self._groups[gid]["action"][attr] = value
            results.append({"success": {item_addr: value}})
        return results

    def _rename(self, obj: dict[str, Any], raw: bytes, addr: str) -> list[dict]:
        body = _parse(raw)
        if not isinstance(body, dict):
            return [_error(2, addr, "body contains invalid json")]
        results: list[dict] = []
        for attr, value in body.items():
            if attr == "name" and isinstance(value, str) and 0 < len(value) <= 32:
                obj["name"] = value
                results.append({"success": {f"{addr}/name": value}})
            elif attr == "name":
                results.append(
                    _error(7, f"{addr}/name", f"invalid value, {value}, for parameter, name"))
            else:
                results.append(_error(6, f"{addr}/{attr}", f"parameter, {attr}, not available"))
        return results


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


_VALID = {
    "on": lambda v: isinstance(v, bool),
    "bri": lambda v: _is_int(v, 0, 254),
    "bri_inc": lambda v: _is_int(v, -254, 254),
    "alert": lambda v: v in ("none", "select", "lselect"),
    "transitiontime": lambda v: _is_int(v, 0, 65535),
}


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


class _Handler(BaseHTTPRequestHandler):
    bridge: HueBridge
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.command == "GET" and self.path.split("?", 1)[0] == "/description.xml":
            data, ctype = self.bridge.description_xml().encode(), "text/xml"
        else:
            data = json.dumps(self.bridge.handle(self.command, self.path, raw)).encode()
            ctype = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = _serve
