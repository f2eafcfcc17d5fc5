"""A test plugin that records every run in a shared file, so tests can count runs across Pis."""

import os
import time

from troupe import Plugin, command
from troupe.plugin import RestartRequested


class Probe(Plugin):
    """Commands for tests: count, fail, hold, take turns."""

    name = "probe"

    def _record(self, line: str, then: str = "") -> None:
        """Append `line`, this Pi's name and `then` to the run log."""
        # O_APPEND writes of one short line are atomic: several Pis may write at once.
        fd = os.open(self.settings["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, " ".join(filter(None, (line, self.host.name, then))).encode() + b"\n")
        finally:
            os.close(fd)

    @command("count {n:int}")
    def count(self, ctx, n: int) -> None:
        """Record one run of command n."""
        self._record(f"count {n}")
        ctx.reply(f"counted {n}")

    @command("ping {n:int}", mode="broadcast")
    def ping(self, ctx, n: int) -> None:
        """Every Pi records command n."""
        self._record(f"ping {n}")

    @command("set {device:word} {n:int}")
    def set_device(self, ctx, device: str, n: int) -> None:
        """Record that `device` was set to n: commands on one device run in the order posted."""
        self._record(f"set {n}", device)
        ctx.reply(f"{device} set to {n}")

    def device_of(self, spec, args) -> str | None:
        """The device a command acts on (troupe.lanes keeps their order)."""
        return f"device {args['device']}" if spec.attr == "set_device" else None

    @command("boom")
    def boom(self, ctx) -> None:
        """Fail on purpose."""
        raise RuntimeError("kaboom <@channel>")

    @command("hold {n:int}")
    def hold(self, ctx, n: int) -> None:
        """Start, then wait until the test creates the release file (or 60 s pass)."""
        self._record(f"start {n}")
        release = self.settings["log"] + ".release"
        deadline = time.monotonic() + 60
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)  # a test stand-in for slow work
        self._record(f"finish {n}")
        ctx.reply(f"held {n}")

    @command("wait {n:int}", idempotent=True)
    def wait(self, ctx, n: int) -> None:
        """`hold`, but idempotent: a takeover may run it again."""
        self.hold(ctx, n)

    @command("hold on {host:word} {n:int}",
             runs_on=lambda self, args: args["host"] == self.host.name)
    def hold_on(self, ctx, host: str, n: int) -> None:
        """`hold`, on the named Pi only: a scene posts it in its thread for that Pi."""
        self.hold(ctx, n)

    @command("only {host:word} {n:int}", runs_on=lambda self, args: args["host"] == self.host.name)
    def only(self, ctx, host: str, n: int) -> None:
        """Runs only on the named Pi."""
        self._record(f"only {n}")
        ctx.reply(f"only {n}")

    @command("turn {n:int}", mode="sequential")
    def turn(self, ctx, n: int) -> None:
        """Each Pi records command n, one at a time."""
        self._record(f"turn {n}")
        ctx.reply(f"turn {n}")

    def _first(self, name: str) -> bool:
        """True for the first caller only (across Pis: an exclusive create of a file)."""
        try:
            os.close(os.open(f"{self.settings['log']}.{name}",
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            return True
        except FileExistsError:
            return False

    @command("relay {n:int}", mode="sequential")
    def relay(self, ctx, n: int) -> None:
        """Each Pi in turn: the first holds its turn until released; the next asks for a
        restart (once), so its turn is run again by the restarted process."""
        self._record(f"relay {n}")
        if self._first(f"relay{n}"):
            release = self.settings["log"] + ".release"
            deadline = time.monotonic() + 60
            while not os.path.exists(release) and time.monotonic() < deadline:
                time.sleep(0.05)  # a test stand-in for slow work
        elif self._first(f"restart{n}"):
            raise RestartRequested(f"relay {n} asked for a restart")
        self._record(f"relayed {n}")
        ctx.reply(f"relayed {n}")
