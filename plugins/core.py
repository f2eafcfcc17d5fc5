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

    @command("roll call", mode="broadcast")
    def roll_call(self, ctx: Context) -> None:
        """Every Pi answers with its name, version and uptime."""
        ctx.reply(f":wave: {self.host.name} here: version {self.host.version}, "
                  f"up {_duration(self.host.uptime())}")

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
        if self.host.target in (None, self.host.name):
            who = "any Pi" if self.host.target is None else "me"
            ctx.reply(f"{self.host.name}: exclusive commands now go to {who}."
                      + _unkept(problem))

    @command("debug {state:on|off}", mode="broadcast", admin=True)
    def debug(self, ctx: Context, state: str) -> None:
        """With debug on, every answer names the Pi that gave it."""
        problem = self.host.remember(debug=state == "on")
        ctx.debug = self.host.debug
        ctx.reply(f"debug {state} at {time.strftime('%H:%M:%S')}" + _unkept(problem))


def _unkept(problem: str | None) -> str:
    """What to add to an answer when a setting could not be kept across restarts."""
    return f" (until this Pi restarts: {problem})" if problem else ""
