"""`troupe check` for [sensors]: every mistake, by full key (`sensors.hallway.gpio`)."""

from __future__ import annotations

import re
from typing import Any

from troupe.config import Checker, Problem

from ..scenes import KnownCommands
from .devices import EVENTS

SETTINGS = ("answer_wait",)  # the scalars [sensors] may hold beside the sensor tables
COMMON = ("type", "host", "message", "cooldown", "run")
PIN_KEYS = ("gpio", "when")
TEMPERATURE_KEYS = ("device", "file", "above", "below", "interval")
DS18B20 = re.compile(r"[0-9a-f]{2}-[0-9a-f]{12}\Z")


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def answer_wait(config: dict[str, Any]) -> float:
    """Seconds `sensors` waits for other Pis: `[sensors] answer_wait`, else 5 (< half the lease)."""
    table = config.get("sensors") if isinstance(config.get("sensors"), dict) else {}
    lease = (config.get("troupe") or {}).get("lease", 30)
    default = min(5.0, lease / 2) if _number(lease) and lease > 0 else 5.0
    wait = table.get("answer_wait")
    return float(wait) if _number(wait) and wait > 0 else default


def check_sensors(config: dict[str, Any]) -> list[Problem]:
    table = config.get("sensors", {})
    if not isinstance(table, dict):
        return [Problem("sensors", table, "tables such as [sensors.hallway]")]
    top = Checker({k: v for k, v in table.items() if k in SETTINGS}, "sensors")
    wait = top.get("answer_wait", (int, float), "seconds, a positive number", default=None,
                   valid=lambda v: v > 0)
    lease = (config.get("troupe") or {}).get("lease", 30)
    if _number(lease) and _number(wait) and wait >= lease:
        top.problem("answer_wait", wait, f"fewer seconds than [troupe] lease ({lease})")
    problems = top.problems
    known = KnownCommands(config)
    pins: dict[tuple[str, int], str] = {}
    for name, body in table.items():
        if name in SETTINGS:
            continue
        if not isinstance(body, dict):
            problems.append(Problem(f"sensors.{name}", body, "a table [sensors.<name>] with "
                                    "type, host and gpio (or device), or answer_wait"))
            continue
        problems += _check_one(name, body, known, pins)
    return problems


def _check_one(name: str, body: dict[str, Any], known: KnownCommands,
               pins: dict[tuple[str, int], str]) -> list[Problem]:
    c = Checker(body, f"sensors.{name}")
    kind = c.get("type", str, "one of " + ", ".join(EVENTS), valid=lambda v: v in EVENTS)
    host = c.get("host", str, "the name of the Pi it is wired to, such as \"pi-1\"",
                 valid=lambda v: bool(v.strip()) and " " not in v)
    c.get("message", str, "the text to post, such as \":footprints: Motion in the {name}\"",
          default=None, valid=lambda v: bool(v.strip()))
    c.get("cooldown", (int, float), "seconds, a number >= 0", default=60, valid=lambda v: v >= 0)
    if "run" in body:
        found = known.problem(c.key("run"), body["run"])
        if found:
            c.problems.append(found)
    if kind == "temperature":
        c.get("device", str, "\"cpu\" or a DS18B20 id such as \"28-0000071a2b3c\"",
              default="cpu", valid=lambda v: v == "cpu" or bool(DS18B20.match(v)))
        c.get("file", str, "the path of the temperature file", default=None)
        for key in ("above", "below"):
            c.get(key, (int, float), "degrees Celsius, a number", default=None)
        c.get("interval", (int, float), "seconds between readings, a positive number",
              default=60, valid=lambda v: v > 0)
        if "gpio" in body:
            c.problem("gpio", body["gpio"], "no gpio for a temperature sensor: set device = "
                      "\"cpu\" or a DS18B20 id (1-wire probes use GPIO 4 via the w1 overlay)")
        if "when" in body:
            c.problem("when", body["when"], "no `when` for a temperature sensor: it posts when "
                      "the reading crosses `above` or `below`")
        c.unknown_keys(COMMON + TEMPERATURE_KEYS + ("gpio", "when"))
    elif kind:
        gpio = c.get("gpio", int, "a BCM pin number 0-27", valid=lambda v: 0 <= v <= 27)
        choices = (*EVENTS[kind], "any")
        c.get("when", str, "one of " + ", ".join(choices), default=None,
              valid=lambda v: v in choices)
        if gpio is not None and host:
            other = pins.setdefault((host, gpio), name)
            if other != name:
                c.problem("gpio", gpio, f"a pin not already used on {host} by sensors.{other}")
        c.unknown_keys(COMMON + PIN_KEYS)
    return c.problems
