"""When a schedule fires: `at 22:30`, `in 10 minutes`, `every weekday at sunset`.

Parsing gives a `Plan` (what the person asked for); `next_after` gives the next
fire time of a `Rule`, using APScheduler's CronTrigger for days and clock times
and astral for sunrise and sunset. Every error is a `WhenError` whose message
says what is wrong in the person's words.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from datetime import time as dtime

from apscheduler.triggers.cron import CronTrigger
from astral import Observer
from astral.sun import sunrise, sunset

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_SETS = {"day": "*", "weekday": "mon-fri", "weekend": "sat,sun"}
DAY_WORDS = {word: full[:3] for full in ("monday", "tuesday", "wednesday", "thursday", "friday",
                                         "saturday", "sunday") for word in (full, full[:3])}
DAY_WORDS.update(tues="tue", thur="thu", thurs="thu")
SUN = {"sunrise": sunrise, "sunset": sunset}
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
MAX_DELAY_DAYS = 120  # chat.scheduleMessage: post_at at most 120 days ahead (time_too_far)
TIME_HELP = "write 22:30, 7am, 7:30pm, noon, midnight, sunrise or sunset"
EVERY_HELP = "write `every day at 07:00 <command>` (day, weekday, weekend or day names)"


class WhenError(ValueError):
    """A time or day the person wrote that cannot be understood."""


@dataclass(frozen=True)
class Location:
    """Where and in which timezone the house is (from [location])."""

    tz: tzinfo
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class Rule:
    """Days (`day`, `weekday`, `weekend` or `mon,fri`) and a time (`07:00` or `sunset`)."""

    days: str
    at: str

    @property
    def text(self) -> str:
        return f"every {self.days} at {self.at}"

    @property
    def uses_sun(self) -> bool:
        return self.at in SUN


@dataclass(frozen=True)
class Plan:
    """What a person asked for: a recurring rule, a time of day once, or a delay."""

    command: str
    rule: Rule | None = None  # every ...
    once_at: Rule | None = None  # at ...
    delay: int | None = None  # in ... (seconds)

    @property
    def rule_text(self) -> str:
        return self.rule.text if self.rule else "once"

    def first_due(self, base: float, loc: Location) -> int:
        """The first fire time (epoch seconds) after `base`."""
        if self.delay is not None:
            return math.ceil(base + self.delay)
        rule = self.rule or self.once_at
        assert rule is not None
        return next_after(rule, base, loc)


def _time(text: str) -> tuple[str, str]:
    """A time at the start of `text` and the rest: ("07:00", "scene morning")."""
    m = re.match(r"(\S+?)(?:\s*([ap]\.?m\.?))?(?=\s|$)\s*(.*)\Z", text.strip(), re.I | re.S)
    if not m or not m.group(1):
        raise WhenError(f"a time is missing: {TIME_HELP}")
    token, ampm, rest = m.group(1).lower(), (m.group(2) or "").lower().replace(".", ""), m.group(3)
    if token in SUN and not ampm:
        return token, rest
    if token in ("noon", "midnight") and not ampm:
        return ("12:00" if token == "noon" else "00:00"), rest
    t = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?([ap]\.?m\.?)?", token)
    shown = m.group(1) + (m.group(2) or "")
    if not t:
        raise WhenError(f"`{shown}` is not a time: {TIME_HELP}")
    hour, minute = int(t.group(1)), int(t.group(2) or 0)
    ampm = ampm or (t.group(3) or "").replace(".", "")
    if not ampm and t.group(2) is None:
        raise WhenError(f"`{shown}` is ambiguous: write {hour:02}:00, {hour}am or {hour}pm")
    if ampm:
        if not 1 <= hour <= 12 or minute > 59:
            raise WhenError(f"`{shown}` is not a time of day: with am/pm, hours go from 1 to 12")
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif hour > 23 or minute > 59:
        raise WhenError(f"`{shown}` is not a time of day: hours go from 00 to 23 "
                        "and minutes from 00 to 59")
    return f"{hour:02}:{minute:02}", rest


def _command(rest: str, what: str) -> str:
    rest = rest.strip()
    if not rest:
        raise WhenError(f"what should happen {what}? Add a command, such as "
                        f"`{what} switch porch off`")
    return rest


def _days(text: str) -> str:
    """`weekday` -> "weekday"; `monday and fridays` -> "mon,fri"."""
    words = [w for w in re.split(r"[\s,]+|\band\b", text.lower()) if w]
    if len(words) == 1 and words[0].removesuffix("s") in DAY_SETS:
        return words[0].removesuffix("s")
    names = []
    for word in words:
        name = DAY_WORDS.get(word) or DAY_WORDS.get(word.removesuffix("s"))
        if name is None:
            raise WhenError(f"`{word}` is not a day: use day, weekday, weekend or day names "
                            "such as monday or mon")
        if name not in names:
            names.append(name)
    return ",".join(sorted(names, key=DAYS.index))


def parse_every(spec: str) -> Plan:
    """`day at 07:00 scene morning` (the text after `every`)."""
    m = re.match(r"(.*?)\s+at\s+(.*)\Z", spec.strip(), re.I | re.S)
    if not m or not m.group(1).strip():
        raise WhenError(EVERY_HELP)
    days = _days(m.group(1))
    at, rest = _time(m.group(2))
    rule = Rule(days, at)
    return Plan(_command(rest, rule.text), rule=rule)


def parse_at(spec: str) -> Plan:
    """`22:30 switch porch off` (the text after `at`)."""
    at, rest = _time(spec)
    return Plan(_command(rest, f"at {at}"), once_at=Rule("day", at))


def parse_in(spec: str) -> Plan:
    """`10 minutes switch porch off` (the text after `in`)."""
    m = re.match(r"(\d+|an?|one)\s+([a-z]+)\b\s*(.*)\Z", spec.strip(), re.I | re.S)
    unit = m and re.fullmatch(r"(sec|second|min|minute|hour|hr|day)s?", m.group(2).lower())
    if not m or not unit:
        raise WhenError("write a number and a unit, such as `in 10 minutes switch porch off` "
                        "(seconds, minutes, hours or days)")
    count = 1 if not m.group(1).isdigit() else int(m.group(1))
    name = {"sec": "second", "min": "minute", "hr": "hour"}.get(unit.group(1), unit.group(1))
    if count < 1:
        raise WhenError("the delay must be at least 1 second")
    if count * UNITS[name] > MAX_DELAY_DAYS * UNITS["day"]:
        raise WhenError(f"the delay goes from 1 second to {MAX_DELAY_DAYS} days (Slack schedules "
                        "a message at most that far ahead)")
    return Plan(_command(m.group(3), f"in {count} {name}s"), delay=count * UNITS[name])


def parse_plan(verb: str, spec: str) -> Plan:
    """A request: verb is `at`, `in` or `every`."""
    return {"at": parse_at, "in": parse_in, "every": parse_every}[verb](spec)


def parse_rule(text: str) -> Rule:
    """A rule as written in a firing or in the configuration: `every weekday at sunset`."""
    m = re.match(r"every\s+(.*?)\s+at\s+(\S+(?:\s*[ap]\.?m\.?)?)\s*\Z", text.strip(), re.I)
    if not m:
        raise WhenError(EVERY_HELP)
    at, rest = _time(m.group(2))
    if rest:
        raise WhenError(f"unexpected `{rest}` after the time")
    return Rule(_days(m.group(1)), at)


def _sun_time(rule: Rule, day: date, loc: Location) -> datetime | None:
    if loc.latitude is None or loc.longitude is None:
        raise WhenError(f"{rule.at} needs the house's place: set [location] latitude and "
                        "longitude in the configuration")
    try:
        return SUN[rule.at](Observer(loc.latitude, loc.longitude), date=day, tzinfo=loc.tz)
    except ValueError:  # the sun does not rise or set that day (polar day or night)
        return None


def next_after(rule: Rule, after: float, loc: Location) -> int:
    """The first fire time of `rule` strictly after `after` (epoch seconds, rounded up)."""
    start = datetime.fromtimestamp(after, loc.tz) + timedelta(microseconds=1)
    if not rule.uses_sun:
        hour, minute = (int(x) for x in rule.at.split(":"))
        trigger = CronTrigger(day_of_week=DAY_SETS.get(rule.days, rule.days), hour=hour,
                              minute=minute, second=0, timezone=loc.tz)
        return math.ceil(trigger.get_next_fire_time(None, start).timestamp())
    days = CronTrigger(day_of_week=DAY_SETS.get(rule.days, rule.days), hour=0, minute=0,
                       second=0, timezone=loc.tz)
    day = datetime.combine(start.date(), dtime(0), loc.tz)
    for _ in range(400):
        day = days.get_next_fire_time(None, day)
        when = _sun_time(rule, day.date(), loc)
        if when is not None and when.timestamp() > after:
            return math.ceil(when.timestamp())
        day = datetime.combine(day.date() + timedelta(days=1), dtime(0), loc.tz)
    raise WhenError(f"there is no {rule.at} here in the coming year")
