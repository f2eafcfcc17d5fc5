"""The lights plugin's settings: `[hue]` and one `[lights.<name>]` table per light.

    [hue]
    bridge = "192.168.1.20"     # host or host:port
    username = "..."            # written by `troupe hue pair`
    [lights.dining]
    hue = "Dining"              # a Hue light or group, by name
    [lights.porch]
    gpio = 17                   # BCM pin
    host = "pi-2"               # the Pi it is wired to
    active_high = true          # optional (false: the relay closes when the pin is low)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from troupe.config import MISSING, Checker, Problem

LIGHT_KEYS = ("hue", "gpio", "host", "active_high")
HUE_KEYS = ("bridge", "username")
_ADDRESS = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?\Z")


@dataclass(frozen=True)
class Light:
    """One configured light."""

    name: str
    hue: str | None = None
    gpio: int | None = None
    host: str | None = None
    active_high: bool = True

    @property
    def key(self) -> str:
        return self.name.casefold()

    @property
    def where(self) -> str:
        """Where it is, for answers: "Hue" or "GPIO 17 on pi-2"."""
        return "Hue" if self.hue is not None else f"GPIO {self.gpio} on {self.host}"


def valid_address(value: str) -> bool:
    """A bridge address: host or host:port, no scheme or path."""
    if not _ADDRESS.match(value):
        return False
    port = value.partition(":")[2]
    return not port or 0 < int(port) < 65536


def read_settings(config: dict[str, Any]) -> tuple[dict[str, Any], list[Light], list[Problem]]:
    """The [hue] settings, the lights (the usable ones) and every problem, by key."""
    problems: list[Problem] = []
    hue_raw = config.get("hue", {})
    if not isinstance(hue_raw, dict):
        problems.append(Problem("hue", hue_raw, "a table ([hue]) with bridge and username"))
        hue_raw = {}
    hue = Checker(hue_raw, "hue")
    bridge = hue.get("bridge", str, "the bridge's address: host or host:port", default=None,
                     valid=valid_address)
    username = hue.get("username", str, "the username `troupe hue pair` stores", default=None,
                       valid=lambda v: bool(v.strip()))
    hue.unknown_keys(HUE_KEYS)
    problems += hue.problems

    table = config.get("lights", {})
    if not isinstance(table, dict):
        problems.append(Problem("lights", table, "a table of lights ([lights.<name>])"))
        table = {}
    lights: list[Light] = []
    seen: dict[str, str] = {}
    for name, raw in table.items():
        key = f"lights.{name}"
        if not isinstance(raw, dict):
            problems.append(Problem(key, raw, f"a table [{key}] with hue = \"...\" or gpio = N"))
            continue
        light, light_problems = _read_light(name, raw)
        problems += light_problems
        if name.casefold() in seen:
            problems.append(Problem(key, "[table]", f"a name other than {seen[name.casefold()]!r} "
                                    "(light names are case-insensitive)"))
            continue
        seen[name.casefold()] = name
        if light is None:
            continue
        if light.hue is not None:
            if "bridge" not in hue_raw:
                problems.append(Problem("hue.bridge", MISSING,
                                        f"the Hue bridge's address ({key} is a Hue light)"))
            elif "username" not in hue_raw:
                problems.append(Problem("hue.username", MISSING,
                                        "a username: run `troupe hue pair` to get one"))
        lights.append(light)
    pins: dict[tuple[str | None, int | None], str] = {}
    for light in lights:
        if light.gpio is not None:
            other = pins.setdefault((light.host, light.gpio), light.name)
            if other != light.name:
                problems.append(Problem(f"lights.{light.name}.gpio", light.gpio,
                                        f"a pin lights.{other} does not use on {light.host}"))
    settings = {"bridge": bridge, "username": username}
    return settings, lights, _dedupe(problems)


def _read_light(name: str, raw: dict[str, Any]) -> tuple[Light | None, list[Problem]]:
    c = Checker(raw, f"lights.{name}")
    c.unknown_keys(LIGHT_KEYS)
    if ("hue" in raw) == ("gpio" in raw):
        c.problem("hue" if "hue" in raw else "gpio", raw.get("hue", MISSING),
                  "exactly one of hue = \"<Hue light or group name>\" or gpio = <BCM pin>")
        return None, c.problems
    if "hue" in raw:
        hue = c.get("hue", str, "the name of a Hue light or group", valid=lambda v: bool(v.strip()))
        for key in ("host", "active_high"):
            if key in raw:
                c.problem(key, raw[key], "nothing: only GPIO lights have it (any Pi runs Hue)")
        return (Light(name, hue=hue) if hue else None), c.problems
    pin = c.get("gpio", int, "a BCM pin number, 0-27", valid=lambda v: 0 <= v <= 27)
    host = c.get("host", str, "the name of the Pi this light is wired to",
                 valid=lambda v: bool(v.strip()))
    active_high = c.get("active_high", bool, "true or false", default=True)
    if pin is None or host is None:
        return None, c.problems
    return Light(name, gpio=pin, host=host, active_high=active_high), c.problems


def _dedupe(problems: list[Problem]) -> list[Problem]:
    out: list[Problem] = []
    for p in problems:
        if p not in out:
            out.append(p)
    return out
