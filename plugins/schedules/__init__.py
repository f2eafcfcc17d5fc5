"""Schedules: do something later, once or again and again, kept in Slack so no Pi is needed.

In chat::

    at 22:30 switch porch off           in 10 minutes scene goodnight
    every day at 07:00 scene morning    every weekday at sunset switch porch on
    schedules                           cancel schedule k3x9

In the configuration (every Pi has the same)::

    [location]                          # for sunrise and sunset, and the house's clock
    latitude = 52.37
    longitude = 4.89
    timezone = "Europe/Amsterdam"       # default: the system's

    [schedules.morning]
    when = "every day at 07:00"
    run = "scene morning"

A schedule is a scheduled Slack message (`fire schedule <id> <due> <rule>: <command>`)
that Slack posts at its time, whichever Pis are alive. The Pi that wins that message's
claim checks that it is the first firing of its occurrence, schedules the next one
(recurring schedules) and posts the command for the federation to run. Why every
occurrence runs exactly once: docs/schedules.md.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError

from troupe.commands import command, suggest
from troupe.config import Problem
from troupe.plugin import Context, Host, Plugin
from troupe.text import command_text

from .config import check as check_config
from .config import configured, location_of
from .shared import listing, parse_listing, parse_withdrawn, withdrawn
from .store import Firing, Pending, SlackStore, cancel_record, is_federation_post
from .when import WhenError, next_after, parse_plan, parse_rule

MAX_AHEAD = 120 * 86400  # Slack refuses post_at further ahead (time_too_far)
RECOVER_WINDOW = 86400.0  # on start, heal chat-made chains whose firing no Pi ran
EXAMPLES = "`at 22:30 switch porch off`, `every day at 07:00 scene morning`"


def short_id(ts: str, taken: dict[str, Any]) -> str:
    """A short id for a schedule made in chat, derived from its message (so a retry agrees)."""
    digest = int.from_bytes(hashlib.sha1(ts.encode()).digest()[:8], "big")
    text = ""
    while digest:
        digest, n = divmod(digest, 36)
        text += "0123456789abcdefghijklmnopqrstuvwxyz"[n]
    return text[:4] if text[:4] not in taken else text[:6]


class Schedules(Plugin):
    """Do things later: at a time, after a while, or every day (sunrise and sunset too)."""

    name = "schedules"
    sections = ("schedules", "location")

    def __init__(self, host: Host, settings: dict[str, Any], config: dict[str, Any] | None = None):
        super().__init__(host, settings, config)
        self.loc = location_of(self.config)
        self.configured = configured(settings)
        self._store: SlackStore | None = None
        self._recovered = False

    @classmethod
    def check(cls, config: dict[str, Any], host_name: str) -> list[Problem]:
        return check_config(config)

    @property
    def store(self) -> SlackStore:
        if self._store is None:
            host: Any = self.host
            self._store = SlackStore(host.web, host.channel_id, self.loc.tz,
                                     host.schedule_command, host.post_command)
        return self._store

    def start(self) -> None:
        self.host.scheduler.add_job(self.maintain, "interval", hours=1, id="schedules",
                                    next_run_time=datetime.now(UTC),
                                    max_instances=1, coalesce=True)

    # ---- keeping Slack's pending firings right ---------------------------
    def maintain(self) -> None:
        """Configured schedules each have their next firing pending; duplicates go.

        Runs at start and then hourly; the first run also heals chat-made chains.
        """
        try:
            pending = self.store.pending()
            stale = [p for p in pending if p.firing.configured
                     and self._configured_firing(p.firing.sid, p.firing.due) != p.firing]
            self.store.delete(stale)
            for name, _, _ in self.configured.values():
                self.store.ensure(self._configured_firing(name), on_behalf_of=None)
            healed = 0 if self._recovered else self._recover()
            self._recovered = True
            tidied = self.store.tidy()
            self.log.info("%s schedules: %d configured ensured, %d stale and %d duplicate "
                          "firing(s) deleted, %d chain(s) healed", self.host.name,
                          len(self.configured), len(stale), tidied, healed)
        except Exception:  # noqa: BLE001 - retried within the hour; never take the Pi down
            self.log.exception("%s schedules: maintenance failed", self.host.name)

    def _configured_firing(self, sid: str, due: int | None = None,
                           after: float | None = None) -> Firing | None:
        """The firing the configuration wants for `sid`: at `due`, or the next after `after`."""
        found = self.configured.get(sid.lower())
        if found is None:
            return None
        name, rule, run = found
        if due is None:
            due = next_after(rule, time.time() + 1 if after is None else after, self.loc)
        return Firing(name, due, rule.text, run, configured=True)

    def _recover(self) -> int:
        """At start, from the last day's history: withdraw this Pi's firings of schedules
        cancelled while it was away (it could not answer then), and schedule the next
        firing of chat-made chains whose last firing no Pi ran (all were off). A firing
        some Pi ran (it carries an outcome marker) had its next one scheduled by that Pi,
        which this Pi cannot see."""
        messages = self.store.history(time.time() - RECOVER_WINDOW, federation_only=False)
        last: dict[str, tuple[Firing, str, dict[str, Any]]] = {}
        cancelled: set[str] = set()
        for m in messages:
            text = command_text(m.get("text", ""))
            firing = Firing.parse(text) if is_federation_post(m) else None
            if firing is not None and firing.recurring and not firing.configured:
                payload = (m.get("metadata") or {}).get("event_payload") or {}
                last[firing.sid.lower()] = (firing, payload.get("on_behalf_of") or "", m)
            elif (sid := cancel_record(m)) is not None:
                last.pop(sid, None)
                cancelled.add(sid)
            elif text.lower().startswith("cancel schedule "):  # not answered yet: no healing
                last.pop(text.split()[-1].lower(), None)
        own = self.store.pending()
        self.store.delete([p for p in own if p.firing.sid.lower() in cancelled
                           and not p.firing.configured])
        waiting = {p.firing.sid.lower() for p in own}
        host: Any = self.host
        markers = host.mq.markers
        healed = 0
        for sid, (firing, user, m) in last.items():
            if sid not in waiting and markers.outcome_of(m.get("reactions") or []) is None:
                due = next_after(parse_rule(firing.rule), time.time() + 1, self.loc)
                self.store.ensure(firing.next(due), on_behalf_of=user or None)
                healed += 1
        return healed

    # ---- making schedules ------------------------------------------------
    @command("at {spec:rest}", idempotent=True)
    def at(self, ctx: Context, spec: str) -> None:
        """Do something once at a time of day: `at 22:30 switch porch off`, `at sunset ...`."""
        self._create(ctx, "at", spec)

    @command("in {spec:rest}", idempotent=True)
    def in_(self, ctx: Context, spec: str) -> None:
        """Do something once after a while: `in 10 minutes switch porch off`."""
        self._create(ctx, "in", spec)

    @command("every {spec:rest}", idempotent=True)
    def every(self, ctx: Context, spec: str) -> None:
        """Do something again and again: `every weekday at sunset switch porch on`."""
        self._create(ctx, "every", spec)

    def _create(self, ctx: Context, verb: str, spec: str) -> None:
        # Everything derives from the message (its ts, its text), so a takeover agrees.
        try:
            plan = parse_plan(verb, spec)
            unknown = self._unknown(plan.command)
            if unknown:
                ctx.reply(unknown)
                return
            due = plan.first_due(float(ctx.ts), self.loc)
        except WhenError as e:
            ctx.reply(f"Sorry, I can't schedule `{verb} {spec}`: {e}. For example: {EXAMPLES}.")
            return
        if due - time.time() > MAX_AHEAD:
            ctx.reply(f"Sorry, {self._when(due)} is more than 120 days away: Slack keeps "
                      "schedules for at most 120 days.")
            return
        firing = Firing(short_id(ctx.ts, self.configured), due, plan.rule_text, plan.command)
        self.store.ensure(firing, on_behalf_of=ctx.user)
        ctx.reply(f":alarm_clock: Schedule `{firing.sid}`: {self._describe(firing)}. "
                  f"To cancel it: `cancel schedule {firing.sid}`.")

    def _unknown(self, text: str) -> str | None:
        """Why `text` cannot be scheduled (no plugin knows it), or None."""
        host: Any = self.host
        specs = [spec for _, spec in getattr(host, "commands", [])]
        aliases = getattr(getattr(host, "config", None), "aliases", None) or {}
        full = aliases.get(" ".join(text.lower().rstrip(".!").split()), text)
        if not specs or any(spec.match(full) for spec in specs):
            return None
        guesses = suggest(full, specs)
        hint = f" Did you mean `{guesses[0]}`?" if guesses else ""
        return f"I don't know `{text}`, so I did not schedule it.{hint} Type `help` for the list."

    # ---- looking and cancelling -----------------------------------------
    @command("schedules", aliases=["list schedules"], idempotent=True)
    def schedules(self, ctx: Context) -> None:
        """List the pending schedules: id, when, what."""
        firings = [p.firing for p in self.store.pending()]
        others = self._others()
        answers = ctx.gather(f"schedule list for {self.host.name}", others,
                             wait=self._wait()) if others else {}
        for text in answers.values():
            firings += parse_listing(text)
        first: dict[str, Firing] = {}
        for firing in sorted(firings, key=lambda f: f.due):
            first.setdefault(firing.sid.lower(), firing)
        silent = sorted(others - set(answers))
        note = (f"\n({', '.join(silent)} did not answer: schedules only they hold are not "
                "listed)") if silent else ""
        if not first:
            ctx.reply(f"No schedules pending. Make one: {EXAMPLES}.{note}")
            return
        lines = [f"`{f.sid}` {self._describe(f)}" + (" (configured)" if f.configured else "")
                 for f in first.values()]
        ctx.reply("Pending schedules:\n" + "\n".join(lines) + note)

    @command("schedule list for {asker:word}", mode="broadcast", idempotent=True, internal=True)
    def list_for(self, ctx: Context, asker: str) -> None:
        """Used by `schedules`: each other Pi lists the firings it holds (Slack shows an app
        only its own scheduled messages)."""
        if asker != self.host.name:
            firings = [p.firing for p in self.store.pending()]
            ctx.reply(listing(firings, self.loc.tz), thread=True)

    @command("withdraw schedule {sid:word} for {asker:word}", mode="broadcast",
             idempotent=True, internal=True)
    def withdraw_for(self, ctx: Context, sid: str, asker: str) -> None:
        """Used by `cancel schedule`: each other Pi withdraws the firings of `sid` it holds."""
        if asker != self.host.name:
            mine = self._held(sid)
            gone, refused = self.store.delete(mine)
            ctx.reply(withdrawn(len(gone), len(refused), [p.firing for p in mine],
                                self.loc.tz), thread=True)

    def _held(self, sid: str) -> list[Pending]:
        return [p for p in self.store.pending() if p.firing.sid.lower() == sid.lower()]

    def _others(self) -> set[str]:
        """The other Pis of the house (the bots in the channel)."""
        host: Any = self.host
        return set(host.federation_members()) - {host.name}

    def _wait(self) -> float:
        """How long to wait for the other Pis' answers (as `lights` does)."""
        troupe = self.config.get("troupe", {})
        return float(troupe.get("no_taker_wait", 3)) + 1.0

    @command("cancel schedule {sid:word}", idempotent=True)
    def cancel(self, ctx: Context, sid: str) -> None:
        """Cancel a schedule (and its repeats): `cancel schedule k3x9`."""
        if sid.lower() in self.configured:
            ctx.reply(f"`{sid}` is in the configuration ([schedules.{sid}]): remove it there "
                      "and restart the Pis to stop it.")
            return
        self._settle(sid)
        mine = self._held(sid)
        gone, refused = (len(x) for x in self.store.delete(mine))
        firings = [p.firing for p in mine]
        others = self._others()
        answers = ctx.gather(f"withdraw schedule {sid} for {self.host.name}", others,
                             wait=self._wait()) if others else {}
        for text in answers.values():
            their_gone, their_refused, theirs = parse_withdrawn(text)
            gone, refused, firings = gone + their_gone, refused + their_refused, firings + theirs
        silent = sorted(others - set(answers))
        away = (f" {', '.join(silent)} did not answer: a Pi that holds `{sid}` withdraws it "
                "when it is back, and a firing of it is not run.") if silent else ""
        # The answer "Cancelled schedule `id`" is the record a Pi that was away acts on.
        if refused:
            ctx.reply(f"Could not cancel `{sid}` ({self._describe(firings[0])}): it is due "
                      "within a minute and Slack no longer lets it be withdrawn.")
        elif firings:
            ctx.reply(f"Cancelled schedule `{sid}`: {self._describe(firings[0])}.{away}")
        elif silent:
            ctx.reply(f"Cancelled schedule `{sid}` on the Pis that answered (none holds "
                      f"it).{away}")
        else:
            ctx.reply(f"No pending schedule `{sid}`. `schedules` lists them.")

    def _settle(self, sid: str) -> None:
        """Wait for recent firings of `sid` to finish: they may be scheduling the next one."""
        host: Any = self.host
        lease = float(getattr(host.config, "lease", 30.0))
        recent = time.time() - float(getattr(host.config, "max_command_age", 300.0))
        deadline, pause = time.monotonic() + 2 * lease + 5, 0.1
        for m in self.store.history(recent):
            firing = Firing.parse(m.get("text", ""))
            if firing is None or firing.sid.lower() != sid.lower():
                continue
            while (not host.mq.markers.outcome_of(self.store.reactions(m["ts"]))
                   and time.monotonic() < deadline):
                time.sleep(pause)  # polling a claim held by another Pi
                pause = min(pause * 2, 2.0)

    # ---- firing -------------------------------------------------------------
    @command("fire schedule {spec:rest}", idempotent=True, internal=True)
    def fire(self, ctx: Context, spec: str) -> None:
        """What Slack posts when a schedule is due; not for typing."""
        firing = Firing.parse(ctx.text)
        posted = self.store.firings_of(firing, ctx.ts) if firing else []
        if firing is None or ctx.ts not in posted:
            ctx.reply("`fire schedule` is what Slack posts when a schedule is due. To do "
                      "something now, type the command itself.")
            return
        if posted[0] != ctx.ts:
            self.log.info("%s %s schedule %s: duplicate firing (first: %s); not run",
                          self.host.name, ctx.ts, firing.sid, posted[0])
            return
        if not firing.configured and self.store.cancelled(firing.sid, firing.due - RECOVER_WINDOW,
                                                          ctx.ts):
            ctx.reply(f"Schedule `{firing.sid}` was cancelled; not run.", thread=True)
            return  # its Pi was away when it was cancelled: Slack posted it anyway
        if firing.configured and firing.sid.lower() not in self.configured:
            ctx.reply(f"Schedule `{firing.sid}` is no longer in the configuration; not run.",
                      thread=True)
            return
        if firing.recurring:
            self._schedule_next(ctx, firing)
        if not self.store.step_posted(ctx.ts):
            ctx.run(firing.command)

    def _schedule_next(self, ctx: Context, firing: Firing) -> None:
        try:
            after = max(firing.due, time.time())
            if firing.configured:  # the configuration's rule, should it have changed
                nxt = self._configured_firing(firing.sid, after=after)
                assert nxt is not None
            else:
                nxt = firing.next(next_after(parse_rule(firing.rule), after, self.loc))
            user = None if firing.configured else ctx.user
            self.store.ensure(nxt, on_behalf_of=user)
        except (WhenError, SlackApiError) as e:
            self.log.error("%s schedule %s: next firing not scheduled: %s", self.host.name,
                           firing.sid, e)
            ctx.reply(f"Could not schedule the next `{firing.sid}`: {e}", thread=True)

    # ---- words -----------------------------------------------------------------
    def _when(self, due: int) -> str:
        at = datetime.fromtimestamp(due, self.loc.tz)
        today = datetime.now(self.loc.tz).date()
        clock = at.strftime("%H:%M:%S" if at.second else "%H:%M")
        days = (at.date() - today).days
        day = {0: "today", 1: "tomorrow"}.get(days) or at.strftime("%a %d %b").replace(" 0", " ")
        return f"{day} at {clock}"

    def _describe(self, firing: Firing) -> str:
        if firing.recurring:
            return f"{firing.rule}, `{firing.command}` (next: {self._when(firing.due)})"
        return f"{self._when(firing.due)}, `{firing.command}`"
