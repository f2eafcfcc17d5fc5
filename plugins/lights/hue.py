"""Hue lights and groups through phue, with answers a person can act on.

phue hands its ``ip`` to ``http.client.HTTPConnection``, which accepts
``host:port``, so the emulator (``127.0.0.1:PORT``) needs no tweak. phue's
``Bridge(ip, username)`` makes no request when both are given: the bridge is
reached only when a command needs it.
"""

from __future__ import annotations

import http.client
import logging
import threading
from dataclasses import dataclass
from typing import Any

import phue

# phue logs the username (the bridge's key to the house) at INFO when it connects.
logging.getLogger("phue").setLevel(logging.WARNING)


class LightError(Exception):
    """Something a person should be told: the message is the answer."""


@dataclass
class LightState:
    on: bool
    level: int | None = None  # percent, for dimmable lights
    reachable: bool = True

    def __str__(self) -> str:
        text = "on" if self.on else "off"
        if self.on and self.level is not None:
            text += f" at {self.level}%"
        return text if self.reachable else text + " (the bridge cannot reach the lamp)"


def percent(bri: int) -> int:
    return max(1, round(bri * 100 / 254))


def bri(level: int) -> int:
    return max(1, min(254, round(level * 254 / 100)))


class Hue:
    """One bridge; targets are a Hue light or group name (case-insensitive)."""

    def __init__(self, address: str | None, username: str | None) -> None:
        self.address = address
        self.username = username
        self._bridge: phue.Bridge | None = None
        self._lock = threading.Lock()

    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        if not self.address or not self.username:
            raise LightError("the Hue bridge is not set up: [hue] needs bridge and username "
                             "(`troupe hue pair` gets a username)")
        with self._lock:
            if self._bridge is None:
                self._bridge = phue.Bridge(ip=self.address, username=self.username)
        try:
            result = self._bridge.request(method, f"/api/{self.username}{path}", body)
        except (OSError, http.client.HTTPException, phue.PhueException, ValueError) as e:
            raise LightError(f"the Hue bridge at {self.address} did not answer "
                             f"({getattr(e, 'message', None) or e})") from None
        errors = [item["error"] for item in result if "error" in item] \
            if isinstance(result, list) else []
        if errors:
            if any(err.get("type") == 1 for err in errors):
                raise LightError(f"the Hue bridge at {self.address} does not know our username "
                                 "(run `troupe hue pair` again)")
            raise LightError("the Hue bridge said: "
                             + "; ".join(str(err.get("description")) for err in errors))
        return result

    def find(self, name: str) -> tuple[str, str]:
        """("lights" | "groups", id) of the light or group called `name`."""
        known = []
        for kind in ("lights", "groups"):
            for item_id, item in self._request("GET", f"/{kind}").items():
                if item.get("name", "").casefold() == name.casefold():
                    return kind, item_id
                known.append(item.get("name", "?"))
        raise LightError(f"the Hue bridge has no light or group called {name!r} "
                         f"(it has: {', '.join(known) or 'nothing'})")

    def state(self, name: str) -> LightState:
        kind, item_id = self.find(name)
        return self._state(self._request("GET", f"/{kind}/{item_id}"), kind)

    def states(self, names: list[str]) -> dict[str, LightState | LightError]:
        """The state of each named light or group, in two requests."""
        items = {kind: self._request("GET", f"/{kind}") for kind in ("lights", "groups")}
        out: dict[str, LightState | LightError] = {}
        for name in names:
            found = [(kind, item) for kind in items for item in items[kind].values()
                     if item.get("name", "").casefold() == name.casefold()]
            out[name] = self._state(found[0][1], found[0][0]) if found else LightError(
                f"the Hue bridge has no light or group called {name!r}")
        return out

    @staticmethod
    def _state(item: dict[str, Any], kind: str) -> LightState:
        if kind == "groups":
            action = item.get("action", {})
            on = bool(item.get("state", {}).get("any_on", action.get("on")))
            level = action.get("bri")
            return LightState(on, percent(level) if level is not None else None)
        state = item.get("state", {})
        level = state.get("bri")
        return LightState(bool(state.get("on")), percent(level) if level is not None else None,
                          bool(state.get("reachable", True)))

    def set(self, name: str, body: dict[str, Any]) -> None:
        kind, item_id = self.find(name)
        path = f"/lights/{item_id}/state" if kind == "lights" else f"/groups/{item_id}/action"
        self._request("PUT", path, body)

    def toggle(self, name: str) -> bool:
        """Flip the light (a group: off if any member is on); returns the new state."""
        on = not self.state(name).on
        self.set(name, {"on": on})
        return on

    def dim(self, name: str, level: int) -> None:
        if level == 0:
            self.set(name, {"on": False})
            return
        kind, item_id = self.find(name)
        if kind == "lights":
            item = self._request("GET", f"/lights/{item_id}")
            if "bri" not in item.get("state", {}):
                raise LightError(f"the Hue light {item.get('name', name)!r} cannot be dimmed "
                                 f"(it is an {item.get('type', 'on/off device').lower()})")
        self.set(name, {"on": True, "bri": bri(level)})
