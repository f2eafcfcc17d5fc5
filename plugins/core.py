"""Built-in commands: help, roll call, status, target, debug."""

from __future__ import annotations

import time

from troupe.clock import describe_offset
from troupe.commands import command, help_for, help_text
from troupe.pins import choose
from troupe.plugin import Context, Plugin
from troupe.text import excerpt


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s" if minutes else f"{seconds}s"


class Core(Plugin):
    """The federation's own commands."""

    name = "core"

    def _specs(self):
        return [spec for _, spec in self.host.commands]

    @command("help [{topic:rest}]", idempotent=True)
    def help(self, ctx: Context, topic: str | None = None) -> None:
        """List the commands, or explain one: `help toggle`."""
        if topic:
            text = help_for(topic, self._specs())
            ctx.reply(text or f"No command called `{excerpt(topic)}`. Type `help` for the list.")
        else:
            ctx.reply("Here is what I can do:\n" + help_text(self._specs()))

    @command("roll call", idempotent=True)
    def roll_call(self, ctx: Context) -> None:
        """One Pi answers for the house: each Pi's name, version and uptime, from the boards."""
        boards = self.host.boards()  # one read of each other Pi's board, all at once
        now = time.time()
        lines = [f"- {self.host.name}: version {self.host.version}, up "
                 f"{_duration(self.host.uptime())} (answering)"]
        for name in sorted(set(self.host.federation_members()) | set(boards)):
            if name == self.host.name:
                continue
            board = boards.get(name)
            if board is None:
                lines.append(f"- {name}: no board found (known from its messages)")
                continue
            started, updated = board.get("started"), board.get("updated")
            since = (f", started {_duration(max(0.0, now - started))} ago"
                     if isinstance(started, (int, float)) else "")
            seen = (f", board last updated {_duration(max(0.0, now - updated))} ago"
                    if isinstance(updated, (int, float)) else "")
            lines.append(f"- {name}: version {board.get('version', 'unknown')}{since}{seen}")
        ctx.reply(f"Roll call: {len(lines)} Pi{'s' * (len(lines) != 1)} of this house, from "
                  "their boards (a Pi that stopped still shows its last board):\n"
                  + "\n".join(lines))

    @command("status", idempotent=True)
    def status(self, ctx: Context) -> None:
        """One answer: the Pis in the channel, plugins, claims in flight."""
        hosts = self.host.federation_members()
        plugins = ", ".join(p.plugin_name() for p in self.host.plugins)
        in_flight = self.host.guard.in_flight() if self.host.guard else []
        lines = [
            f"Pis in #{self.host.channel_name}: {', '.join(hosts) or 'none'}",
            f"Answering: {self.host.name} (version {self.host.version}, plugins: {plugins})",
            f"Exclusive commands go to: {self.host.target or 'any Pi'}",
            f"Claims in flight here: {len(in_flight) - 1 if in_flight else 0}",
            self._gpio_line(),
        ]
        clock = describe_offset(self.host.mq.clock.offset()) if self.host.mq else None
        if clock:  # more than a minute off Slack's clock
            lines.append(f":warning: {self.host.name}: {clock}")
        ctx.reply("\n".join(lines))

    def _gpio_line(self) -> str:
        """This Pi's GPIO pins and the pin factory they got, with the problem if it is not real."""
        pins = [pin for plugin in self.host.plugins
                for pin in type(plugin).gpio_pins(self.config, self.host.name)]
        if not pins:
            return f"GPIO on {self.host.name}: no pins configured"
        factory = choose()  # what `troupe run` chose at start (or what the program set)
        problem = f". :warning: {factory.problem}" if factory.problem else ""
        return (f"GPIO on {self.host.name}: pin factory {factory.describe()} for "
                f"{', '.join(pins)}{problem}")

    @command("target {host:word}", mode="broadcast", admin=True)
    def target(self, ctx: Context, host: str) -> None:
        """Send exclusive commands to one Pi (`target pi-2`) until `target all`; the Pis
        remember it across restarts."""
        problem = self.host.remember(
            target=None if host.lower() in ("all", "any", "none") else host.lower())
        target = self.host.target
        known = self.host.federation_members()
        what = f"Exclusive commands now go to {target or 'any Pi'}"
        if target and target not in known:
            what += (f", but no Pi of this house is called {target} (known: "
                     f"{', '.join(known) or 'none'}); `target all` undoes it")
        self._one_answer(ctx, what, problem, first=target)

    @command("debug {state:on|off}", mode="broadcast", admin=True)
    def debug(self, ctx: Context, state: str) -> None:
        """With debug on, every answer names the Pi that gave it."""
        problem = self.host.remember(debug=state == "on")
        ctx.debug = self.host.debug
        self._one_answer(ctx, f"debug {state} at {time.strftime('%H:%M:%S')}", problem)

    # ---- one answer for a broadcast -------------------------------------------------
    def _one_answer(self, ctx: Context, what: str, problem: str | None,
                    first: str | None = None) -> None:
        """Every Pi applied a broadcast setting and marks it done; one Pi answers at top level,
        naming the Pis whose done marker came within MARK_WAIT: the first in line (`first`,
        if it is a Pi of the house, else the first in the claiming order), or the second when
        the first has not marked it within MARK_WAIT (gone). The others say nothing or, when
        they could not keep the setting, say so in the command's thread. A Pi catching up
        after a restart applies it silently: the answer was given before."""
        host = self.host
        line = self._line(ctx.ts, first)
        rank = line.index(host.name) if host.name in line else len(line)
        late = float(ctx.ts) < getattr(host, "started_at", 0.0)
        if rank == 1 and not late:
            # The first in line marks it before it answers: it is there, and answers.
            late = self._marks(ctx.ts, {line[0]}, MARK_WAIT).get(line[0]) == "done"
        if rank > 1 or late:
            if problem:
                ctx.reply(f"{host.name}: {what}" + _unkept(problem), thread=True)
            return
        self._mark_done(ctx.ts)  # first, so that the second in line sees this Pi answers
        others = set(host.federation_members()) - {host.name}
        marks = self._marks(ctx.ts, others, MARK_WAIT if rank == 0 else 0.0)
        applied = sorted({name for name, outcome in marks.items() if outcome == "done"}
                         | {host.name})
        failed = sorted(name for name, outcome in marks.items() if outcome == "failed")
        silent = sorted(others - set(marks))
        text = f"{what}. Applied by {', '.join(applied)}"
        if failed:
            text += f"; failed on {', '.join(failed)} (its thread says why)"
        if silent:
            text += f"; no done marker within {MARK_WAIT:.0f} s from {', '.join(silent)}"
        ctx.reply(text + _unkept(problem))

    def _line(self, ts: str, first: str | None) -> list[str]:
        """The Pis in the order they answer `ts` (the agreed claiming order, suspects
        included so that every Pi computes the same), `first` moved to the front."""
        guard, pis = getattr(self.host, "guard", None), self.host.pis()
        if guard is None:
            return [self.host.name]
        line = [pis.get(user, user) for user in guard.ranking.order(ts, suspects=True)]
        if first in line:
            line.remove(first)
            line.insert(0, first)
        return line

    def _markers(self) -> tuple[str, str]:
        markers = getattr(getattr(self.host, "mq", None), "markers", None)
        return (markers.done, markers.failed) if markers else ("white_check_mark", "x")

    def _mark_done(self, ts: str) -> None:
        host = self.host
        try:
            host.web.reactions_add(channel=host.channel_id, timestamp=ts,
                                   name=self._markers()[0])
        except Exception as e:  # noqa: BLE001 - the core marks it again after the handler
            self.log.info("%s %s could not mark it done yet: %s", host.name, ts, e)

    def _marks(self, ts: str, wanted: set[str], wait: float) -> dict[str, str]:
        """The Pis' outcome markers on `ts` ({name: "done" | "failed"}), read until every Pi in
        `wanted` has one or `wait` seconds passed (at least one read)."""
        host, (done, failed) = self.host, self._markers()
        deadline = time.monotonic() + wait
        marks: dict[str, str] = {}
        while True:
            try:
                found = host.web.reactions_get(channel=host.channel_id, timestamp=ts, full=True)
            except Exception as e:  # noqa: BLE001 - answer with what is known
                self.log.warning("%s %s could not read the markers: %s", host.name, ts, e)
                return marks
            pis = host.pis()
            for reaction in (found.get("message") or {}).get("reactions") or []:
                outcome = {done: "done", failed: "failed"}.get(reaction.get("name"))
                for user in reaction.get("users", []) if outcome else []:
                    if user in pis:
                        marks[pis[user]] = outcome
            if wanted <= set(marks) or time.monotonic() >= deadline:
                return marks
            time.sleep(MARK_POLL)  # polling the command's markers, with a deadline


MARK_WAIT = 3.0  # s: how long the answering Pi waits for the others' done markers
MARK_POLL = 0.25  # s between two reads of them


def _unkept(problem: str | None) -> str:
    """What to add to an answer when a setting could not be kept across restarts."""
    return f" (until this Pi restarts: {problem})" if problem else ""
