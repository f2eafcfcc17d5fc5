"""Schedules: parsing, next fire times, configuration checks, and exactly-once firing
across several real `troupe run` processes with Slack (the emulator) as the timer."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient
from troupe_plugins.schedules.config import check
from troupe_plugins.schedules.store import COMMAND_EVENT, Firing
from troupe_plugins.schedules.when import (
    Location,
    Rule,
    WhenError,
    next_after,
    parse_plan,
    parse_rule,
)

from troupe.federation import Seal
from troupe.testing import Federation, dump_toml, wait_for

PLUGINS = Path(__file__).parent / "plugins"
AMS = Location(ZoneInfo("Europe/Amsterdam"), 52.37, 4.89)


def at(text: str, tz=AMS.tz) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def iso(epoch: float, tz=AMS.tz) -> str:
    return datetime.fromtimestamp(epoch, tz).isoformat(timespec="minutes")


# ---- parsing and next fire times ------------------------------------------------------

@pytest.mark.parametrize("verb, spec, rule, command", [
    ("at", "22:30 switch porch off", "once", "switch porch off"),
    ("at", "7:30 pm Count 1", "once", "Count 1"),
    ("in", "10 minutes scene goodnight", "once", "scene goodnight"),
    ("every", "day at 07:00 scene morning", "every day at 07:00", "scene morning"),
    ("every", "weekday at sunset switch porch on", "every weekday at sunset", "switch porch on"),
    ("every", "Mondays and fri at 6am x", "every mon,fri at 06:00", "x"),
    ("every", "weekends at noon x", "every weekend at 12:00", "x"),
])
def test_requests_parse(verb, spec, rule, command):
    plan = parse_plan(verb, spec)
    assert (plan.rule_text, plan.command) == (rule, command)
    if plan.rule:
        assert parse_rule(plan.rule.text) == plan.rule  # what a firing carries reads back


@pytest.mark.parametrize("verb, spec, says", [
    ("at", "25:00 switch porch off", "`25:00` is not a time of day"),
    ("at", "13pm x", "`13pm` is not a time of day"),
    ("at", "7 x", "`7` is ambiguous"),
    ("at", "teatime x", "`teatime` is not a time"),
    ("at", "22:30", "what should happen at 22:30?"),
    ("in", "ten minutes x", "a number and a unit"),
    ("every", "fortnight at 07:00 x", "`fortnight` is not a day"),
    ("every", "day 07:00 x", "every day at 07:00 <command>"),
])
def test_bad_requests_say_what_is_wrong(verb, spec, says):
    with pytest.raises(WhenError, match=says.replace("?", r"\?")):
        parse_plan(verb, spec)


def test_next_fire_times_in_the_house_timezone():
    friday_8am = at("2025-05-02T08:00")
    assert iso(next_after(Rule("weekday", "07:00"), friday_8am, AMS)) == "2025-05-05T07:00+02:00"
    assert iso(next_after(Rule("day", "07:00"), at("2025-05-02T07:00"), AMS)) == \
        "2025-05-03T07:00+02:00"  # strictly after: a firing never schedules itself again
    # across the DST change (Sunday 30 March 2025): still 07:00 on the wall clock
    assert iso(next_after(Rule("day", "07:00"), at("2025-03-29T08:00"), AMS)) == \
        "2025-03-30T07:00+02:00"
    sunset = next_after(Rule("weekday", "sunset"), friday_8am, AMS)
    assert iso(sunset).startswith("2025-05-02T21:0")  # Amsterdam, early May: about 21:08
    saturday_sunrise = next_after(Rule("weekend", "sunrise"), friday_8am, AMS)
    assert iso(saturday_sunrise).startswith("2025-05-03T06:0")


def test_sun_needs_a_place():
    with pytest.raises(WhenError, match=r"set \[location\] latitude and longitude"):
        next_after(Rule("day", "sunset"), time.time(), Location(ZoneInfo("UTC")))


def test_firing_text_round_trips():
    firing = Firing("morning", int(at("2025-05-02T07:00")), "every day at 07:00",
                    "scene morning: lights <on> & coffee", configured=True)
    text = firing.text(AMS.tz)
    assert text.startswith("fire schedule morning 2025-05-02T07:00:00+02:00 every day at 07:00 "
                           "(configured): ")
    assert Firing.parse(text) == firing
    assert Firing.parse(text.replace("<", "&lt;").replace(">", "&gt;").replace("&", "&amp;")
                        .replace("&amp;lt;", "&lt;").replace("&amp;gt;", "&gt;")) == firing
    assert Firing.parse("fire schedule k3x9 soon once: x") is None


# ---- configuration --------------------------------------------------------------------

def problems(raw: dict) -> dict[str, str]:
    return {p.key: str(p) for p in check(raw)}


def test_configuration_problems_are_reported_by_key():
    found = problems({
        "location": {"latitude": 95, "timezone": "Mars/Olympus", "elevation": 3},
        "schedules": {
            "morning": {"when": "every day at 25:00", "run": "roll call"},
            "dusk": {"when": "every weekday at sunset", "run": "rol call"},
            "later": {"when": "at 22:30", "run": "roll call", "repeat": True},
            "broken": "every day",
        },
    })
    assert "`25:00` is not a time of day" in found["schedules.morning.when"]
    assert "did you mean `roll call`" in found["schedules.dusk.run"]
    assert "latitude and longitude for sunset" in found["schedules.dusk.when"]
    assert "recurring time" in found["schedules.later.when"]
    assert "unknown key" in found["schedules.later.repeat"]
    assert "a table with when" in found["schedules.broken"]
    assert set(found) >= {"location.latitude", "location.timezone", "location.elevation",
                          "location.longitude"}


def test_good_configuration_has_no_problems():
    assert problems({"location": {"latitude": 52.37, "longitude": 4.89,
                                  "timezone": "Europe/Amsterdam"},
                     "schedules": {"dusk": {"when": "every weekday at sunset",
                                            "run": "roll call"}}}) == {}


def test_troupe_check_reports_a_bad_time_by_key(tmp_path):
    path = tmp_path / "troupe.toml"
    path.write_text(dump_toml({
        "slack": {"bot_token": "xoxb-1", "app_token": "xapp-1", "channel": "home"},
        "plugins": {"enabled": ["schedules"]},
        "schedules": {"morning": {"when": "every day at 25:00", "run": "roll call"}},
    }))
    done = subprocess.run([sys.executable, "-m", "troupe", "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "schedules.morning.when = 'every day at 25:00'" in done.stderr
    assert "`25:00` is not a time of day" in done.stderr


# ---- the federation -------------------------------------------------------------------

def runs(path: Path) -> collections.Counter:
    lines = path.read_text().splitlines() if path.exists() else []
    return collections.Counter(int(line.split()[1]) for line in lines if line.startswith("count"))


def federation(tmp_path: Path, hosts: int, **config) -> tuple[Federation, Path]:
    log = tmp_path / "runs.log"
    fed = Federation(tmp_path / "fed", hosts, plugins=["probe", "schedules"],
                     plugin_paths=[PLUGINS],
                     config={"probe": {"log": str(log)}, "location": {"timezone": "UTC"},
                             **config})
    return fed, log


def scheduled(fed: Federation) -> list[dict]:
    """Every app's scheduled messages (the emulator's inspection: on Slack each app sees
    only its own)."""
    return [s for s in fed.ws.scheduled() if s["channel_id"] == fed.ws.channel_id]


def pending(fed: Federation) -> list[Firing]:
    """The schedule firings Slack will post."""
    return [f for f in (Firing.parse(i["text"]) for i in scheduled(fed)) if f]


def meta(fed: Federation, app: str, text: str, on_behalf_of: str, at: float | None = None) -> str:
    """The metadata that makes `app`'s message `text` a federation command: signed with the
    house's secret, as the Pi `app` signs what it posts (troupe.federation)."""
    seal = Seal(fed.secret)
    seal.serve(fed.ws.channel_id, fed.ws.app(app)["bot_user_id"])
    return json.dumps(seal.metadata(COMMAND_EVENT, text, {"on_behalf_of": on_behalf_of,
                                                          "host": app}, at=at))


def ensured(fed: Federation) -> None:
    """Wait until every host has checked its configured schedules since it started."""
    for name in fed.host_names:
        wait_for(lambda n=name: "configured ensured" in fed.log(n, since_start=True), 20,
                 f"{name} to check its configured schedules")


def settled(fed: Federation, ts: str) -> bool:
    """The command at `ts` carries an outcome marker and no claim."""
    return bool(fed.ws.reactions(ts)) and ts not in {p["message"]["ts"] for p in fed.ws.pins()}


@pytest.mark.multihost
def test_chat_schedule_fires_once_after_its_creator_dies(tmp_path):
    fed, log = federation(tmp_path, 3)
    with fed:
        ts = fed.say("in 6 seconds count 1")
        answer = fed.wait_for_answer(ts)
        assert "Schedule `" in answer["text"] and "count 1" in answer["text"]
        creator = fed.host_of(answer)
        fed.kill(creator)  # the Pi that made it is gone for good
        survivor, restarted = [n for n in fed.host_names if n != creator]
        fed.stop_host(restarted)
        fed.start_host(restarted)  # and another restarts before it is due
        assert len(pending(fed)) == 1
        wait_for(lambda: runs(log)[1], 30, "the schedule to fire")
        firing = next(m for m in fed.ws.messages() if m["text"].startswith("fire schedule"))
        assert fed.host_of(firing) == creator  # Slack posted it: no Pi had to be alive
        step = wait_for(lambda: fed.bot_messages(thread_ts=firing["ts"])[:1], 20, "the step")[0]
        wait_for(lambda: settled(fed, firing["ts"]) and settled(fed, step["ts"]), 20,
                 "the firing and its step to be done")
        wait_for(lambda: any("counted 1" in m["text"]
                             for m in fed.bot_messages(thread_ts=firing["ts"])), 20, "the answer")
        assert runs(log) == {1: 1}
        assert pending(fed) == []


@pytest.mark.multihost
def test_recurring_and_configured_firings_run_once_and_schedule_the_next_once(
        tmp_path):
    morning = {"when": "every day at 07:00", "run": "count 5"}
    fed, log = federation(tmp_path, 3, schedules={"morning": morning})
    with fed:  # three Pis start together: each makes sure `morning` is pending
        ensured(fed)
        seven = next_after(Rule("day", "07:00"), time.time() + 1, Location(UTC))
        # Slack shows each app only its own scheduled messages: each Pi keeps one firing.
        assert [(f.sid, f.due, f.configured) for f in pending(fed)] == [
            ("morning", seven, True)] * 3
        assert sorted(s["author"] for s in scheduled(fed)) == fed.host_names
        web = {n: WebClient(token=fed.ws.app(n)["bot_token"], base_url=fed.ws.api_url)
               for n in fed.host_names}

        # Every Pi goes down; meanwhile two more copies of that occurrence appear (pi-2 and
        # pi-3 each hold two). All restart together: each Pi keeps its smallest id.
        for name in fed.host_names:
            fed.kill(name)
        text = Firing("morning", seven, "every day at 07:00", "count 5", True).text(UTC)
        for name in ("pi-2", "pi-3"):
            web[name].chat_scheduleMessage(channel=fed.ws.channel_id, post_at=seven, text=text)
        ids = collections.defaultdict(list)
        for item in scheduled(fed):
            ids[item["author"]].append(item["id"])
        assert sorted(len(v) for v in ids.values()) == [1, 2, 2]
        # ...and Slack posts firings of two chat-made daily schedules no Pi is up to run;
        # someone cancels the second.
        for sid, n in (("tst2", 7), ("tst3", 8)):
            text = Firing(sid, int(time.time()), "every day at 07:00", f"count {n}").text(UTC)
            web["pi-1"].chat_postMessage(channel=fed.ws.channel_id, text=text,
                                         metadata=meta(fed, "pi-1", text, fed.ws.user["id"]))
        cancel = fed.say("cancel schedule tst3")
        fed.start()
        ensured(fed)
        assert "Cancelled schedule `tst3`" in fed.wait_for_answer(cancel)["text"]
        assert sorted((i["author"], i["id"]) for i in scheduled(fed) if "morning" in i["text"]) \
            == sorted((app, min(kept)) for app, kept in ids.items())
        assert ("tst2", seven) in [(f.sid, f.due) for f in pending(fed)]  # the chain goes on
        assert "tst3" not in [f.sid for f in pending(fed)]

        # Slack posts three copies of one occurrence of a chat-made schedule and of the
        # configured one, from three Pis (as happens when no Pi sees another's pending ones).
        due = int(time.time()) + 4
        chat = Firing("tst1", due, "every day at 07:00", "count 6")
        conf = Firing("morning", due, "every day at 07:00", "count 5", configured=True)
        for firing, user in ((chat, fed.ws.user["id"]), (conf, "")):
            for name, client in web.items():
                client.chat_scheduleMessage(
                    channel=fed.ws.channel_id, post_at=due, text=firing.text(UTC),
                    metadata=meta(fed, name, firing.text(UTC), user, at=due))
        wait_for(lambda: runs(log)[5] and runs(log)[6], 30, "both schedules to fire")
        firings = [m for m in fed.ws.messages()
                   if (f := Firing.parse(m["text"])) and f.due == due]
        assert len(firings) == 6
        wait_for(lambda: all(settled(fed, m["ts"]) for m in firings), 30, "every firing done")
        for m in firings:  # each step, if posted, has run
            for step in fed.bot_messages(thread_ts=m["ts"]):
                if step["text"] in ("count 5", "count 6"):
                    wait_for(lambda s=step: settled(fed, s["ts"]), 20, "the step to be done")
        counts = runs(log)
        assert counts.pop(7, 1) == counts.pop(8, 1) == 1  # (caught up: at most once)
        assert counts == {5: 1, 6: 1}
        left = collections.Counter((f.sid, f.due) for f in pending(fed))
        # One `morning` per Pi; tst1's next from the one firing that ran. tst2 was healed at
        # start by each Pi that found its chain broken (none sees another's pending firing):
        # its copies fire together once, the first runs and schedules one next.
        assert set(left) == {("morning", seven), ("tst1", seven), ("tst2", seven)}
        assert left[("morning", seven)] == 3 and left[("tst1", seven)] == 1
        ts = fed.say("cancel schedule morning")
        assert "in the configuration" in fed.wait_for_answer(ts)["text"]


@pytest.mark.multihost
def test_list_cancel_and_clear_answers(tmp_path):
    fed, log = federation(tmp_path, 1)
    with fed:
        def ask(text: str) -> str:
            return fed.wait_for_answer(fed.say(text))["text"]

        assert "`25:00` is not a time of day" in ask("at 25:00 count 1")
        assert "I don't know `cuont 2`" in ask("every day at 07:00 cuont 2")
        made = ask("every weekday at 23:59 count 2")
        sid = made.split("`")[1]
        assert f"cancel schedule {sid}" in made
        listed = ask("schedules")
        assert f"`{sid}` every weekday at 23:59, `count 2`" in listed
        assert "Cancelled schedule" in ask(f"cancel schedule {sid}")
        assert pending(fed) == []
        assert f"No pending schedule `{sid}`" in ask(f"cancel schedule {sid}")
        assert "No schedules pending" in ask("schedules")
        assert "Schedule `" in ask("in 1 second count 3")  # due at once: posted, not scheduled
        wait_for(lambda: runs(log)[3], 20, "the one-second schedule to run")
        assert runs(log) == {3: 1}
        assert "is what Slack posts" in ask("fire schedule abcd 2030-01-01T07:00:00+00:00 once: "
                                            "count 3")


@pytest.mark.multihost
def test_any_pi_lists_and_cancels_schedules_another_pi_holds(tmp_path):
    """Slack shows each app only its own scheduled messages: the Pi that answers asks the
    others; a Pi that is away withdraws on return, and its firing is not run meanwhile."""
    log = tmp_path / "runs.log"
    fed = Federation(tmp_path / "fed", 3, plugins=["core", "probe", "schedules"],
                     plugin_paths=[PLUGINS],
                     config={"probe": {"log": str(log)}, "location": {"timezone": "UTC"}})
    with fed:
        def ask(text: str) -> dict:
            return fed.wait_for_answer(fed.say(text))

        def target(host: str) -> None:  # every Pi has applied it: each marks it done
            ts = fed.say(f"target {host}")
            wait_for(lambda: any(r["name"] == "white_check_mark" and r["count"] == 3
                                 for r in fed.ws.reactions(ts)), 20,
                     f"every Pi to send exclusive commands to {host}")

        target("pi-1")
        daily = ask("every day at 07:00 count 1")["text"].split("`")[1]
        assert [s["author"] for s in scheduled(fed)] == ["pi-1"]
        target("pi-2")
        listed = ask("schedules")
        assert fed.host_of(listed) == "pi-2" and f"`{daily}` every day at 07:00" in listed["text"]
        cancelled = ask(f"cancel schedule {daily}")
        assert fed.host_of(cancelled) == "pi-2"
        assert f"Cancelled schedule `{daily}`: every day at 07:00" in cancelled["text"]
        assert scheduled(fed) == []  # pi-1 withdrew its own

        target("pi-3")
        soon = ask("in 20 seconds count 2")["text"].split("`")[1]
        later = ask("every day at 07:00 count 3")["text"].split("`")[1]
        assert sorted(s["author"] for s in scheduled(fed)) == ["pi-3", "pi-3"]
        target("all")
        fed.stop_host("pi-3")
        for sid in (soon, later):
            text = ask(f"cancel schedule {sid}")["text"]
            assert f"Cancelled schedule `{sid}` on the Pis that answered" in text
            assert "pi-3 did not answer" in text
        # Slack posts pi-3's firing of the cancelled `soon` anyway: it is not run.
        firing = wait_for(lambda: [m for m in fed.ws.messages()
                                   if m["text"].startswith(f"fire schedule {soon}")], 40,
                          "Slack to post the cancelled firing")[0]
        wait_for(lambda: any("was cancelled; not run" in m["text"]
                             for m in fed.bot_messages(thread_ts=firing["ts"])), 20,
                 "the firing to be refused")
        fed.start_host("pi-3")  # back: it withdraws `later`, cancelled while it was away
        wait_for(lambda: scheduled(fed) == [], 20, "pi-3 to withdraw its cancelled firing")
        assert runs(log) == {}
