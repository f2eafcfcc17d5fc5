"""[location] and [schedules.<name>]: reading them, and reporting every mistake by key."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal import get_localzone

from troupe.config import MISSING, Checker, Problem

from ..scenes import KnownCommands
from .when import Location, Rule, WhenError, parse_rule

NAME = re.compile(r"[A-Za-z0-9_-]+\Z")
WHEN = 'a recurring time such as "every day at 07:00" or "every weekday at sunset"'


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    return value if isinstance(value, dict) else {}


def location_of(raw: dict[str, Any]) -> Location:
    """The house's place and timezone (the system's timezone unless configured)."""
    table = _table(raw, "location")
    zone = _zone(table["timezone"]) if isinstance(table.get("timezone"), str) else None
    return Location(zone or get_localzone(), table.get("latitude"), table.get("longitude"))


def configured(settings: dict[str, Any]) -> dict[str, tuple[str, Rule, str]]:
    """Checked [schedules.<name>] tables: name in lower case -> (name, rule, command)."""
    out = {}
    for name, body in settings.items():
        if isinstance(body, dict) and NAME.match(name):
            try:
                out[name.lower()] = (name, parse_rule(body["when"]), body["run"].strip())
            except (KeyError, AttributeError, WhenError):
                continue  # `troupe check` reports it; a running Pi skips it
    return out


def _check_location(raw: dict[str, Any]) -> tuple[list[Problem], bool]:
    """Problems in [location], and whether latitude and longitude are both usable."""
    if not isinstance(raw.get("location", {}), dict):
        return [Problem("location", raw["location"], "a table ([location])")], False
    check = Checker(_table(raw, "location"), "location")
    lat = check.get("latitude", (int, float), "degrees north, -90 to 90", default=None,
                    valid=lambda v: -90 <= v <= 90)
    lon = check.get("longitude", (int, float), "degrees east, -180 to 180", default=None,
                    valid=lambda v: -180 <= v <= 180)
    check.get("timezone", str, 'an IANA timezone such as "Europe/Amsterdam"', default=None,
              valid=lambda v: _zone(v) is not None)
    check.unknown_keys(["latitude", "longitude", "timezone"])
    for have, missing, expected in (("latitude", "longitude", "degrees east, -180 to 180"),
                                    ("longitude", "latitude", "degrees north, -90 to 90")):
        if have in check.data and missing not in check.data:
            check.problem(missing, MISSING, expected + " (both latitude and longitude are needed)")
    return check.problems, lat is not None and lon is not None


def check(raw: dict[str, Any]) -> list[Problem]:
    """Every problem in [location] and [schedules], each named by its full key."""
    problems, has_place = _check_location(raw)
    table = raw.get("schedules", {})
    if not isinstance(table, dict):
        return [*problems, Problem("schedules", table, "tables such as [schedules.morning]")]
    known = KnownCommands(raw)
    for name, body in table.items():
        key = f"schedules.{name}"
        if not NAME.match(name):
            problems.append(Problem(key, "[table]", "a name of letters, digits, - and _"))
        if not isinstance(body, dict):
            problems.append(Problem(key, body, 'a table with when = "every day at 07:00" '
                                    'and run = "scene morning"'))
            continue
        check = Checker(body, key)
        when = check.get("when", str, WHEN)
        run = check.get("run", str, 'a command, such as "scene morning"')
        check.unknown_keys(["when", "run"])
        if when is not None:
            try:
                rule = parse_rule(when)
                if rule.uses_sun and not has_place:
                    check.problem("when", when, "a clock time, or [location] latitude and "
                                  f"longitude for {rule.at}")
            except WhenError as e:
                check.problem("when", when, f"{WHEN} ({e})")
        problems += check.problems
        if run is not None:
            found = known.problem(f"{key}.run", run)
            if found:
                problems.append(found)
    return problems
