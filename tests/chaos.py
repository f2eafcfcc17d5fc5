"""A randomized fault run: five real `troupe run` processes, many commands, many faults.

    python tests/chaos.py --seed 7 --commands 1000       # `make chaos` runs three seeds

It posts exclusive commands (`count N`), broadcasts (`ping N`), failing commands
(`boom`), scenes (`scene night`: one Pi claims it and runs its count steps itself,
the nested scene's inline, and posts its ping steps, broadcasts, in its thread),
scheduled commands (`in 12 seconds count N`, and in long runs one
`at HH:MM count N`: the schedules plugin keeps them as Slack scheduled messages)
and timers (`lamp N on for 8 seconds`: the Pi that runs it asks Slack to post
`lamp N off` later, through `host.schedule_command` as the lights plugin's
`switch porch on for 10 minutes` does) while it kills and restarts Pis, closes
their connections (with and without a `disconnect` message; and, often, the Pi that confirmed a
schedule or timer, before it is due), cuts apps off and
restores them, duplicates and delays envelopes, and makes Web API methods answer
429, 5xx or hang. The seed picks every choice; the same seed replays the same run.

Then a checker reads the emulator's record (every message and reaction, kept by a
listener) and the Pis' run log, where each run names the message it ran
(tests/plugins/chaos_probe.py), and reports per kind:

- run twice (must be 0): a command message run by two Pis, or a broadcast by one
  Pi twice without a restart in between (a Pi killed after running a broadcast
  but before marking it runs it again when it catches up: broadcasts have no
  claim; those are counted apart); a count number run twice; a scene step run (or
  posted) twice in one scene run, a takeover's included; a scheduled command or
  timer switch-back posted or run twice;
- lost (must be 0): a command neither run, answered as failed, reported
  interrupted, nor expired with an answer; a scene step that never ran (or was never
  posted) although the scene's answer does not report it failed or interrupted; a
  schedule or timer that was confirmed but did not run (once due);
- broadcasts missed by Pis that were up from the post to the end (typed pings and
  scene-step pings);
- answer latency of the commands typed in the channel.

The end waits (polling, with a deadline past the last due time) until everything
due has run or been answered and no claim is left.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from troupe.testing import Federation, wait_for

PLUGINS = Path(__file__).parent / "plugins"
FAULT_METHODS = ["pins.add", "pins.remove", "reactions.add", "reactions.get", "chat.postMessage",
                 "conversations.history", "pins.list"]
COMMAND_EVENT = "troupe_command"  # troupe.core.COMMAND_EVENT: commands a Pi posts
STEP_BASE = 1_000_000  # scene steps count and ping numbers from here (typed ones are below)
SCENES = {
    "morning": ["count 1000001", "ping 1000002", "count 1000003"],
    "night": ["count 1000004", "scene morning", "ping 1000005"],
}
# Weights of the kinds of command typed; scenes, schedules, timers and clicks (a panel asked
# for, then its button clicked) at least MIN_EACH times.
KINDS = {"count": 0.67, "ping": 0.12, "boom": 0.05, "scene": 0.06, "scheduled": 0.035,
         "timer": 0.035, "click": 0.03}
MIN_EACH = 2
SCHEDULE_DELAY = (3, 20)  # `in N seconds`, N drawn from this range
TIMER_DELAY = (2, 15)  # `lamp N on for S seconds`
DUE_GRACE = 90.0  # how long after the last due time the end waits at most
MAX_COMMAND_AGE = 600  # [troupe] max_command_age of the Pis: --real waits that long at most
# --real: the default lease. A holder renews its claim by a thread reply every lease / 3; at a
# 4 s lease that is a message every 1.3 s per claim held, more than Slack's one a second allows.
REAL_LEASE = 30


def scene_steps(name: str) -> list[str]:
    """The steps a run of scene `name` runs, in order (nested scenes' inline)."""
    steps = []
    for step in SCENES[name]:
        if step.startswith("scene "):
            steps += scene_steps(step.split(" ", 1)[1])
        else:
            steps.append(step)
    return steps


@dataclass
class Posted:
    kind: str  # count | ping | boom | scene | scheduled | timer | click
    n: int
    ts: str
    at: float
    text: str = ""
    due: float = 0.0  # scheduled and timer: when the command or switch back is due
    clicked: float = 0.0  # click: when its panel's `count n` button was clicked
    panel: dict[str, Any] = field(default_factory=dict)  # click: the panel clicked


@dataclass
class Kind:
    """What the checker found for one kind of command."""

    posted: int = 0
    done: int = 0  # ran (or, for a broadcast, ran on every Pi that was up)
    answered: int = 0  # not run but answered: failed, interrupted, expired, refused
    steps: int = 0  # scenes: step messages; scheduled: firings; timers: switch backs
    twice: int = 0
    lost: int = 0

    def line(self, name: str) -> str:
        extra = {"scene": "steps run or posted", "scheduled": "fired", "timer": "switched back",
                 "broadcast": "Pi runs", "click": "commands posted"}.get(name)
        steps = f" ({self.steps} {extra})" if extra else ""
        return (f"{name} {self.posted}{steps}: done {self.done}, answered {self.answered}, "
                f"run twice {self.twice}, lost {self.lost}")


@dataclass
class Report:
    seed: int
    commands: int
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    broadcasts_missed: list[str] = field(default_factory=list)
    reruns: list[str] = field(default_factory=list)  # broadcasts run again after a restart
    pins_left: list[str] = field(default_factory=list)  # claims still held at the end
    stragglers: list[str] = field(default_factory=list)  # Pis not caught up 120 s after the end
    missed_while_down: list[str] = field(default_factory=list)  # by Pis down after the post
    latencies: list[float] = field(default_factory=list)
    faults: collections.Counter = field(default_factory=collections.Counter)
    kinds: dict[str, Kind] = field(default_factory=dict)
    interrupted: int = 0
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.duplicates and not self.lost and not self.broadcasts_missed

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> str:
        lines = [
            f"seed {self.seed}: {self.commands} commands in {self.seconds:.0f} s; "
            f"faults: {dict(self.faults)}",
            f"  run twice: {len(self.duplicates)}   lost: {len(self.lost)}   "
            f"broadcasts missed: {len(self.broadcasts_missed)}   "
            f"reported interrupted: {self.interrupted}   "
            f"broadcasts run again by a Pi restarted after running them: {len(self.reruns)}   "
            f"broadcasts never run by a Pi down after their post: {len(self.missed_while_down)}",
            *(f"  {k.line(name)}" for name, k in self.kinds.items()),
        ]
        if self.latencies:
            lines.append(f"  answer latency s: p50 {self.percentile(50):.2f}  "
                         f"p95 {self.percentile(95):.2f}  p99 {self.percentile(99):.2f}  "
                         f"max {max(self.latencies):.2f}  "
                         f"mean {statistics.mean(self.latencies):.2f}")
        for what, items in (("run twice", self.duplicates), ("lost", self.lost),
                            ("missed", self.broadcasts_missed),
                            ("run again after a restart", self.reruns),
                            ("pins left", self.pins_left),
                            ("not caught up by the count", self.stragglers),
                            ("never run by a Pi down after the post", self.missed_while_down)):
            if items:
                lines.append(f"  {what}: {items[:20]}")
        return "\n".join(lines)


class Snapshot:
    """The channel (every message, threads too, as the listener last saw it) and the run log."""

    def __init__(self, seen: dict[str, dict[str, Any]], log: Path):
        self.messages = dict(seen)
        self.answers: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        self.commands_in: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        self.top_commands: list[dict[str, Any]] = []  # bot commands not in a thread
        for ts in sorted(self.messages, key=float):
            m = self.messages[ts]
            if not m.get("bot_id"):
                continue
            metadata = m.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if payload.get("command_ts"):
                self.answers[payload["command_ts"]].append(m)
            if metadata.get("event_type") == COMMAND_EVENT:
                thread = m.get("thread_ts")
                if thread and thread != ts:
                    self.commands_in[thread].append(m)
                else:
                    self.top_commands.append(m)
        self.runs: collections.Counter = collections.Counter()  # (kind, ts) -> runs
        self.by_n: collections.Counter = collections.Counter()  # (kind, n) -> runs
        self.step_runs: collections.Counter = collections.Counter()  # (kind, ts, n) -> runs
        self.pings: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.ping_times: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
        lines = log.read_text().splitlines() if log.exists() else []
        for line in lines:
            kind, n, host, ts, when = line.split()
            if kind == "ping":
                self.pings[ts][host] += 1
                self.ping_times[ts, host].append(float(when))
            else:
                self.runs[kind, ts] += 1
                self.by_n[kind, int(n)] += 1
                self.step_runs[kind, ts, int(n)] += 1

    def reactions(self, ts: str) -> set[str]:
        return {r["name"] for r in (self.messages.get(ts) or {}).get("reactions", [])}

    def excused(self, ts: str) -> bool:
        """The command at `ts` was reported failed or interrupted."""
        return bool(self.reactions(ts) & {"x", "warning"})


class Chaos:
    def __init__(self, workdir: Path, seed: int, commands: int, hosts: int = 5,
                 as_slack: bool = False):
        self.rng = random.Random(seed)
        self.as_slack = as_slack
        self.seed = seed
        self.commands = commands
        self.log = workdir.resolve() / "runs.log"  # the Pis write it from their own cwd
        self.log.unlink(missing_ok=True)  # a replay starts from nothing
        self.fed = Federation(
            workdir / "fed", hosts, plugins=["chaos_probe", "scenes", "schedules"],
            plugin_paths=[PLUGINS],
            config={"chaos_probe": {"log": str(self.log)},
                    "scenes": {name: {"steps": steps} for name, steps in SCENES.items()},
                    "location": {"timezone": "UTC"},
                    "troupe": {"lease": REAL_LEASE if as_slack else 4, "no_taker_wait": 2,
                               "max_command_age": MAX_COMMAND_AGE}},
            # --real: as Slack would treat the house (its rate limits, 50 ms per Web API call)
            **({"rate_limits": "real", "latency_ms": 50} if as_slack else {}))
        self.seen: dict[str, dict[str, Any]] = {}  # ts -> the message as last changed
        self.marked: dict[tuple[str, str], float] = {}  # (ts, user) -> first reaction's time
        self.fed.ws.add_listener(self._saw, ["message_posted", "message_updated",
                                             "reaction_added", "reaction_removed"])
        self.posted: list[Posted] = []
        # host -> [start, end, why] for each time it was down: "killed" (until its restart
        # is ready) or "cut off" (until restored); a Pi can be both at once.
        self.down: dict[str, list[list[Any]]] = collections.defaultdict(list)
        self.events: dict[str, list[tuple[float, str]]] = collections.defaultdict(list)
        self.kills: dict[str, list[float]] = collections.defaultdict(list)
        self.report = Report(seed, commands)
        self.started = time.time()

    def _saw(self, event: dict[str, Any]) -> None:
        message = event["message"]  # (this runs on the emulator's loop: keep it quick)
        self.seen[message["ts"]] = message
        if event["type"] == "reaction_added":
            self.marked.setdefault((message["ts"], event["user"]), time.time())

    # ---- faults ------------------------------------------------------------
    def _mark_down(self, host: str, why: str) -> None:
        self.down[host].append([time.time(), float("inf"), why])
        self.events[host].append((time.time(), why))

    def _mark_up(self, host: str, why: str) -> None:
        """Ends the open interval of this cause only: a Pi killed while cut off is still cut
        off once its restart is ready (each cause used to close whichever came last)."""
        for interval in reversed(self.down[host]):
            if interval[2] == why and interval[1] == float("inf"):
                interval[1] = time.time()
                self.events[host].append((time.time(), {"killed": "restarted, ready",
                                                        "cut off": "restored"}[why]))
                return

    def doing(self, host: str, at: float) -> str:
        """What `host` was doing around `at` (a missed broadcast's post), for the report."""
        t0 = self.started
        spans = [f"{why} {a - t0:.1f}-{'end' if b == float('inf') else f'{b - t0:.1f}'} s"
                 for a, b, why in self.down[host] if a <= at + 5 and b >= at - 5]
        near = [f"{what} at {t - t0:.1f} s" for t, what in self.events[host]
                if abs(t - at) <= 5 and what not in ("killed", "cut off")]
        return "; ".join(spans + near) or "up, no fault within 5 s"

    def inject(self) -> None:
        fed, rng = self.fed, self.rng
        host = rng.choice(fed.host_names)
        fault = rng.choice(["kill", "close", "disconnect", "cut", "duplicate", "delay", "429",
                            "5xx", "hang"])
        self.report.faults[fault] += 1
        if fault == "kill":
            self._mark_down(host, "killed")
            fed.kill(host)
            self.kills[host].append(time.time())
            fed.start_host(host, wait=False)
            self._pending_up.append(host)
        elif fault == "close":
            self.events[host].append((time.time(), "connections closed"))
            fed.ws.close_connections(host)
        elif fault == "disconnect":
            reason = rng.choice(["refresh_requested", "warning"])
            self.events[host].append((time.time(), f"disconnect {reason}"))
            fed.ws.close_connections(host, disconnect=reason)
        elif fault == "cut":
            self._mark_down(host, "cut off")
            fed.ws.cut_off(host)
            self._cut.append(host)
        elif fault == "duplicate":
            fed.ws.duplicate_events(True)
            self._toggles.append(lambda: fed.ws.duplicate_events(False))
        elif fault == "delay":
            fed.ws.set_event_delay(rng.choice([100, 300, 800]))
            self._toggles.append(lambda: fed.ws.set_event_delay(0))
        else:
            method = rng.choice(FAULT_METHODS)
            mode = {"429": "error", "5xx": "5xx", "hang": "hang"}[fault]
            fed.ws.fail_method(method, mode=mode, error="ratelimited", count=rng.randint(1, 3),
                               app=host)

    def kill_creator(self, made: Posted) -> None:
        """Kill and restart the Pi that confirmed a schedule or timer (a seed-chosen Pi if
        none has yet): the firing or switch back must not need it."""
        answers = self.fed.answers_to(made.ts)
        host = self.fed.host_of(answers[0]) if answers else self.rng.choice(self.fed.host_names)
        if host in self._pending_up or host not in self.fed.host_names:
            return
        self.report.faults["kill creator"] += 1
        self._mark_down(host, "killed")
        self.fed.kill(host)
        self.kills[host].append(time.time())
        self.fed.start_host(host, wait=False)
        self._pending_up.append(host)

    def heal_some(self) -> None:
        fed, rng = self.fed, self.rng
        while self._cut and rng.random() < 0.6:
            host = self._cut.pop(0)
            fed.ws.restore(host)
            self._mark_up(host, "cut off")
        while self._toggles and rng.random() < 0.5:
            self._toggles.pop(0)()
        for host in list(self._pending_up):
            if " ready: " in fed.log(host, since_start=True):
                self._pending_up.remove(host)
                self._mark_up(host, "killed")

    def heal_all(self) -> None:
        for host in self._cut:
            self.fed.ws.restore(host)
            self._mark_up(host, "cut off")
        self._cut.clear()
        for toggle in self._toggles:
            toggle()
        self._toggles.clear()
        for host in self._pending_up:
            # Under Slack's limits apps.connections.open is Tier 1 (about one a minute): a Pi
            # killed three times in a minute waits that long to connect again.
            self.fed.wait_ready(host, timeout=180 if self.as_slack else 60)
            self._mark_up(host, "killed")
        self._pending_up.clear()
        # Count only once every Pi is back and caught up: connected, no envelope waiting
        # for it, and no catch-up under way (each one it started has finished).
        for host in self.fed.host_names:
            try:
                wait_for(lambda h=host: self._caught_up(h), 120, f"{host} to catch up",
                         interval=0.2)
            except TimeoutError:
                self.report.stragglers.append(host)

    def _caught_up(self, host: str) -> bool:
        status = next(a for a in self.fed.ws.apps_status() if a["name"] == host)
        log = self.fed.log(host, since_start=True)
        return (status["connections"] > 0 and not status["cut_off"]
                and status["pending_envelopes"] == 0
                and log.count(" catching up on ") == log.count(" caught up"))

    # ---- the run -----------------------------------------------------------
    def plan(self) -> list[str]:
        """The kind of each command, from the seed; every special kind at least MIN_EACH times."""
        rng = self.rng
        kinds = rng.choices(list(KINDS), weights=list(KINDS.values()), k=self.commands)
        for special in ("scene", "scheduled", "timer", "click"):
            counts = [i for i in range(self.commands // 2) if kinds[i] == "count"]
            missing = max(0, MIN_EACH - kinds.count(special))
            for i in rng.sample(counts, min(missing, len(counts))):
                kinds[i] = special
        return kinds

    def say(self, kind: str, i: int) -> Posted:
        """Post command i of `kind` as the person."""
        rng, due, delay = self.rng, 0.0, 0
        if kind == "boom":
            text = "boom"
        elif kind == "scene":
            text = f"scene {rng.choice(sorted(SCENES))}"
        elif kind == "scheduled" and i == 0 and self.commands >= 300:
            # A time of day (minutes only): the next minute at least 30 s away, in UTC.
            at = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
            if (at - datetime.now(UTC)).total_seconds() < 30:
                at += timedelta(minutes=1)
            text, due = f"at {at:%H:%M} count {i}", at.timestamp()
        elif kind == "scheduled":
            delay = rng.randint(*SCHEDULE_DELAY)
            text = f"in {delay} seconds count {i}"
        elif kind == "timer":
            delay = rng.randint(*TIMER_DELAY)
            text = f"lamp {i} on for {delay} seconds"
        elif kind == "click":
            text = f"panel {i}"  # answered with a panel; its `count i` button is clicked later
        else:
            text = f"{kind} {i}"
        ts = self.fed.say(text)
        if kind == "timer" or (kind == "scheduled" and not due):
            due = math.ceil(float(ts) + delay)  # the Pi counts from when it runs: a lower bound
        return Posted(kind, i, ts, time.time(), text, due)

    def run(self) -> Report:
        started = self.started = time.time()
        self._cut: list[str] = []
        self._toggles: list = []
        self._pending_up: list[str] = []
        self._creator_kills: dict[int, list[Posted]] = collections.defaultdict(list)
        kinds = self.plan()
        if self.commands >= 300:
            kinds[0] = "scheduled"  # one `at HH:MM`: it costs up to 90 s of waiting at the end
        with self.fed:
            for i, kind in enumerate(kinds):
                self.posted.append(self.say(kind, i))
                if kind in ("scheduled", "timer") and self.rng.random() < 0.4:
                    # Later, kill the Pi that confirmed it (before it is due, mostly).
                    self._creator_kills[i + self.rng.randint(3, 40)].append(self.posted[-1])
                for made in self._creator_kills.pop(i, []):
                    self.kill_creator(made)
                if self.rng.random() < 0.06:
                    self.inject()
                if self.rng.random() < 0.3:
                    self.heal_some()
                self.click_panels()
                time.sleep(self.rng.uniform(0.0, 0.06))  # pacing of the people typing
            self.heal_all()
            self.click_panels(wait=60.0)
            self.settle()
            self.check()
        self.report.seconds = time.time() - started
        return self.report

    def click_panels(self, wait: float = 0.0) -> None:
        """Click the `count n` button of every click panel that has come (waiting up to
        `wait` seconds for the rest): the click goes to the Pi that posted the panel only,
        whatever faults are on (duplicated deliveries, that Pi cut off or killed)."""
        deadline = time.time() + wait
        while True:
            for p in self.posted:
                if p.kind != "click" or p.clicked:
                    continue
                panel = next((m for m in list(self.seen.values()) if m.get("blocks") and (
                    (m.get("metadata") or {}).get("event_payload") or {}).get("command_ts")
                    == p.ts), None)
                if panel is not None:
                    action = next(e["action_id"] for b in panel["blocks"]
                                  for e in b.get("elements") or []
                                  if e.get("value") == f"count {p.n}")
                    self.fed.ws.click(panel["ts"], action)
                    p.clicked, p.panel = time.time(), panel
            waiting = [p for p in self.posted if p.kind == "click" and not p.clicked]
            if not waiting or time.time() >= deadline:
                return
            time.sleep(0.2)  # waiting for the last panels, with a deadline

    def settle(self) -> None:
        last_due = max((p.due for p in self.posted), default=0.0)
        timeout = max(120.0, last_due - time.time() + DUE_GRACE)
        if self.as_slack:  # Slack's limits hold the Pis back: a command has max_command_age
            # to run, then it is answered 'expired' (which takes a claim and a post too)
            last = max((p.at for p in self.posted), default=time.time())
            timeout = max(timeout, last + MAX_COMMAND_AGE + DUE_GRACE - time.time())

        def finished() -> bool:
            report = self.inspect()
            return not report.lost and not report.broadcasts_missed and not self.fed.ws.pins()

        try:
            wait_for(finished, timeout, "every command to be run or answered", interval=0.5)
        except TimeoutError:
            pass  # the checker reports what is missing

    def _was_up(self, host: str, start: float, end: float) -> bool:
        return not any(a <= end and b >= start for a, b, _ in self.down[host])

    def check(self) -> None:
        found = self.inspect()
        rep = self.report
        rep.duplicates, rep.lost = found.duplicates, found.lost
        rep.broadcasts_missed, rep.kinds = found.broadcasts_missed, found.kinds
        rep.interrupted, rep.latencies = found.interrupted, found.latencies
        rep.reruns, rep.missed_while_down = found.reruns, found.missed_while_down
        rep.pins_left = [f"{(p.get('message') or {}).get('ts')} by {p.get('created_by')} "
                         f"at {p.get('created')}: {self._takeover_bids(p)}"
                         for p in self.fed.ws.pins()]

    def _takeover_bids(self, pin: dict[str, Any]) -> str:
        """The takeover replies about a pin still held at the end (who bid, when)."""
        message = pin.get("message") or {}
        thread = message.get("thread_ts") or message.get("ts")
        bids = [f"{m['ts']} {m.get('text', '').split()[1:2]}"
                for m in self.fed.ws.messages(thread_ts=thread)
                if m.get("text", "").startswith("slackmq-takeover")
                and message.get("ts", "") in m.get("text", "") + thread]
        return f"{len(bids)} takeover bid(s) {bids[-6:]}"

    # ---- the checker -------------------------------------------------------
    def inspect(self) -> Report:
        """What the channel and the run log show now (settle polls it; check keeps the last)."""
        snap = Snapshot(self.seen, self.log)
        rep = Report(self.seed, self.commands)
        now = time.time()
        kinds = rep.kinds = {name: Kind() for name in
                             ("exclusive", "broadcast", "boom", "scene", "scheduled", "timer",
                              "click")}

        def ran_once(kind: str, m: dict[str, Any], what: str, stats: Kind) -> str:
            """An exclusive command message: "ran" (once, or twice: reported), "answered"
            (failed, interrupted, expired) or "lost"."""
            runs = snap.runs[kind, m["ts"]]
            if runs > 1:
                rep.duplicates.append(f"{what} ({m['ts']}) ran {runs} times")
                stats.twice += 1
            if runs:
                return "ran"
            if snap.answers.get(m["ts"]):
                return "answered"
            rep.lost.append(f"{what} ({m['ts']}): neither run nor answered")
            stats.lost += 1
            return "lost"

        def broadcast(ts: str, what: str, stats: Kind) -> bool:
            """Every Pi that was up from the post until now ran the broadcast at `ts`, once."""
            hosts = snap.pings.get(ts, collections.Counter())
            for host, runs in hosts.items():
                if runs < 2:
                    continue
                # A broadcast has no claim: a Pi marks it after running it, so one killed in
                # between runs it again when it catches up. Only that is allowed: a kill
                # between the runs, and no mark of this Pi's on the message before it.
                times = sorted(snap.ping_times[ts, host])
                marked = self.marked.get((ts, self.fed.ws.app(host)["bot_user_id"]), now)
                pairs = zip(times, times[1:], strict=False)
                if all(any(a < k < b and k < marked for k in self.kills[host])
                       for a, b in pairs):
                    rep.reruns.append(f"{what} ({ts}) on {host}")
                else:
                    kills = [k for k in self.kills[host] if times[0] < k < times[-1]]
                    seen = "" if marked == now else f"; its mark at {marked:.3f}"
                    rep.duplicates.append(
                        f"{what} ({ts}) ran {runs} times on {host} (at "
                        f"{', '.join(f'{t:.3f}' for t in times)}; killed at "
                        f"{', '.join(f'{k:.3f}' for k in kills) or 'none'}{seen})")
                    stats.twice += 1
            missed = [h for h in self.fed.host_names
                      if self._was_up(h, float(ts), now) and h not in hosts]
            rep.broadcasts_missed += [f"{what} ({ts}) on {h} ({self.doing(h, float(ts))})"
                                      for h in missed]
            # Not a failure (the Pi was down after the post), but worth knowing: broadcasts
            # a Pi down meanwhile never ran once back and caught up.
            rep.missed_while_down += [f"{what} ({ts}) on {h} ({self.doing(h, float(ts))})"
                                      for h in self.fed.host_names
                                      if h not in hosts and h not in missed]
            return not missed

        for p in self.posted:
            answers = [a["text"] for a in snap.answers.get(p.ts, [])]
            m = snap.messages.get(p.ts, {"ts": p.ts})
            if p.kind in ("count", "boom"):
                stats = kinds["exclusive" if p.kind == "count" else "boom"]
                stats.posted += 1
                outcome = ran_once(p.kind, m, p.text, stats)
                stats.done += outcome == "ran"
                stats.answered += outcome == "answered"
            elif p.kind == "ping":
                stats = kinds["broadcast"]
                stats.posted += 1
                stats.steps += sum(snap.pings.get(p.ts, {}).values())
                if broadcast(p.ts, p.text, stats):
                    stats.done += 1
                else:
                    stats.lost += 1
            elif p.kind == "scene":
                self._check_scene(p, snap, rep, ran_once, broadcast)
            elif p.kind == "scheduled":
                self._check_scheduled(p, answers, snap, rep, now)
            elif p.kind == "timer":
                self._check_timer(p, answers, snap, rep, now, ran_once)
            elif p.kind == "click":
                self._check_click(p, snap, rep, now)
        # A count number (typed or scheduled) runs once, whichever message asked for it.
        for (kind, n), runs in snap.by_n.items():
            if kind == "count" and n < STEP_BASE and runs > 1:
                rep.duplicates.append(f"count {n} ran {runs} times in all")
        commands = [p.ts for p in self.posted] + [m["ts"] for ms in snap.commands_in.values()
                                                  for m in ms]
        rep.interrupted = sum("warning" in snap.reactions(ts) for ts in commands)
        for p in self.posted:
            if snap.answers.get(p.ts):
                rep.latencies.append(float(snap.answers[p.ts][0]["ts"]) - float(p.ts))
        return rep

    def _check_click(self, p: Posted, snap: Snapshot, rep: Report, now: float) -> None:
        """A click runs its command once (a count number run twice is reported with the
        others), however often Slack delivered it. Not run is excused only if no panel came
        to click, the command it posted was answered (failed, interrupted), or the panel's
        Pi was down after the click (Slack shows the click failed then)."""
        stats = rep.kinds["click"]
        stats.posted += 1
        runs = snap.by_n["count", p.n]
        stats.twice += runs > 1
        posted = [m for m in snap.commands_in.get(p.panel.get("ts", ""), [])
                  if m.get("text") == f"count {p.n}"]
        stats.steps += len(posted)
        if len(posted) > 1:
            rep.duplicates.append(f"click {p.n}: its command posted {len(posted)} times")
        if runs:
            stats.done += 1
        elif not p.clicked or any(snap.answers.get(m["ts"]) or snap.excused(m["ts"])
                                  for m in posted):
            stats.answered += 1
        elif self._was_up(self.fed.host_of(p.panel), p.clicked, now):
            rep.lost.append(f"click {p.n} ({p.panel['ts']}): its Pi was up, nothing ran")
            stats.lost += 1
        else:
            stats.answered += 1

    def _check_scene(self, p: Posted, snap: Snapshot, rep: Report,
                     ran_once, broadcast) -> None:
        """A scene runs under one claim: each count step runs once (by the Pi that held the
        scene, logged with the scene's ts; after a takeover maybe by another), each ping step
        is posted once in its thread and runs on every Pi that was up. A step that did not
        run must be reported by the scene's answer (failed or interrupted)."""
        stats = rep.kinds["scene"]
        stats.posted += 1
        steps = scene_steps(p.text.split(" ", 1)[1])
        posted = snap.commands_in.get(p.ts, [])
        answers = snap.answers.get(p.ts, [])
        records = [((a.get("metadata") or {}).get("event_payload") or {}).get("scene")
                   for a in answers]
        state = next((r["state"] for r in reversed(records) if isinstance(r, dict)), "")
        ok, missed = True, []
        for i, step in enumerate(steps):
            kind, n = step.split()[0], int(step.split()[1])
            excused = len(state) == len(steps) and state[i] in "fi"
            if kind == "count":
                runs = snap.step_runs["count", p.ts, n]
                stats.steps += runs
                if runs > 1:
                    rep.duplicates.append(f"{p.text} ({p.ts}): step `{step}` ran {runs} times")
                    stats.twice += 1
            else:
                sent = [m for m in posted if m["text"] == step]
                stats.steps += len(sent)
                runs = len(sent)
                if runs > 1:
                    rep.duplicates.append(f"{p.text} ({p.ts}): step `{step}` posted {runs} "
                                          "times")
                    stats.twice += 1
                for m in sent:
                    ok &= broadcast(m["ts"], f"{p.text} step `{step}`", stats)
            ok &= runs > 0
            if not runs and not excused:
                missed.append(step)
        if not answers and not any(snap.step_runs["count", p.ts, int(s.split()[1])]
                                   for s in steps):
            rep.lost.append(f"{p.text} ({p.ts}): neither run nor answered")
            stats.lost += 1
        elif missed and not snap.excused(p.ts) and not any(
                "expired" in a.get("text", "") for a in answers):
            rep.lost.append(f"{p.text} ({p.ts}): steps neither run nor reported: {missed}")
            stats.lost += 1
        elif not ok:
            stats.answered += 1  # cut short or a step failed, and said so
        else:
            stats.done += 1

    def _check_scheduled(self, p: Posted, answers: list[str], snap: Snapshot, rep: Report,
                         now: float) -> None:
        """A confirmed schedule posts its command once (in a firing's thread); it runs once."""
        stats = rep.kinds["scheduled"]
        stats.posted += 1
        command = p.text.split(" count ", 1)[1]
        steps = [s for ms in snap.commands_in.values() for s in ms
                 if s["text"] == f"count {command}"]
        stats.steps += bool(steps)
        if len(steps) > 1:
            rep.duplicates.append(f"{p.text} ({p.ts}): its command posted {len(steps)} times")
            stats.twice += 1
        runs = snap.by_n["count", p.n]
        if runs:
            stats.done += 1  # (more than once: reported with every count number)
            stats.twice += runs > 1
        elif not answers:
            rep.lost.append(f"{p.text} ({p.ts}): neither scheduled nor answered")
            stats.lost += 1
        elif not any(a.startswith(":alarm_clock: Schedule `") for a in answers):
            stats.answered += 1  # refused or failed: said so
        elif any(snap.answers.get(s["ts"]) for s in steps):
            stats.answered += 1  # the step was reported interrupted or expired
        else:
            due = datetime.fromtimestamp(p.due, UTC).strftime("%H:%M:%S")
            when = "not due yet" if now < p.due else "did not run"
            rep.lost.append(f"{p.text} ({p.ts}): confirmed, due {due}, {when}")
            stats.lost += 1

    def _check_timer(self, p: Posted, answers: list[str], snap: Snapshot, rep: Report,
                     now: float, ran_once) -> None:
        """A timer that ran schedules one switch back; Slack posts it; one Pi runs it once."""
        stats = rep.kinds["timer"]
        stats.posted += 1
        backs = [m for m in snap.top_commands if m["text"] == f"lamp {p.n} off"]
        stats.steps += len(backs)
        switched = snap.by_n["lamp-on", p.n]
        if switched > 1:
            rep.duplicates.append(f"{p.text} ({p.ts}) ran {switched} times")
            stats.twice += 1
        if len(backs) > 1:
            rep.duplicates.append(f"{p.text} ({p.ts}): switch back posted {len(backs)} times")
            stats.twice += 1
        confirmed = any(" is on for " in a for a in answers)
        outcomes = [ran_once("lamp-off", back, f"lamp {p.n} off (switch back)", stats)
                    for back in backs]
        if not answers:  # a run that was cut short is reported interrupted
            rep.lost.append(f"{p.text} ({p.ts}): neither confirmed nor answered")
            stats.lost += 1
        elif confirmed and not backs:
            due = datetime.fromtimestamp(p.due, UTC).strftime("%H:%M:%S")
            when = "not due yet" if now < p.due else "never posted"
            rep.lost.append(f"{p.text} ({p.ts}): confirmed; switch back due {due}, {when}")
            stats.lost += 1
        elif confirmed and "ran" in outcomes:
            stats.done += 1
        elif "lost" not in outcomes:
            stats.answered += 1  # the timer or its switch back failed or was interrupted: said so


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--workdir", default="artifacts/chaos")
    parser.add_argument("--json", help="write the report here")
    parser.add_argument("--real", "--as-slack", action="store_true", dest="real",
                        help="Slack's real rate limits and 50 ms per Web API call")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    print(f"chaos: seed {seed} (replay with --seed {seed})", flush=True)
    workdir = Path(args.workdir) / f"seed-{seed}"
    workdir.mkdir(parents=True, exist_ok=True)
    report = Chaos(workdir, seed, args.commands, args.hosts, args.real).run()
    print(report.summary(), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "seed": seed, "commands": report.commands, "seconds": report.seconds,
            "run_twice": len(report.duplicates), "lost": len(report.lost),
            "broadcasts_missed": len(report.broadcasts_missed),
            "broadcasts_run_again_after_restart": len(report.reruns),
            "broadcasts_never_run_by_a_pi_down_after_the_post": len(report.missed_while_down),
            "interrupted": report.interrupted, "faults": dict(report.faults),
            "kinds": {name: vars(k) for name, k in report.kinds.items()},
            "p50": report.percentile(50), "p95": report.percentile(95),
            "p99": report.percentile(99)}, indent=2))
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
