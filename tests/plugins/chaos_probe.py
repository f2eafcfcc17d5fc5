"""The probe for tests/chaos.py: probe's commands, each run logged with its command message.

The run log lines are `<kind> <n> <host> <ts> <when>`: `ts` is the message the run
was for, `when` the time of the run. So the chaos checker can tell "one scene step
message ran twice" from "a scene ran twice" (scene steps repeat their text), match
each scheduled switch-back to the message Slack posted, and tell a broadcast run
again by a Pi restarted since from one run twice.

`lamp N on for S seconds` stands in for the lights plugin's `switch porch on for
10 minutes` (no Hue bridge needed): it switches lamp N "on" and asks Slack, through
`host.schedule_command` as lights does, to post `lamp N off` S seconds later, so the
switch back happens whichever Pis are alive then.
"""

from __future__ import annotations

import math
import time

from probe import Probe

from troupe import command
from troupe.panels import Button, Panel, Row


class ChaosProbe(Probe):
    """probe's commands with the command's ts in the run log; and lamp timers."""

    name = "chaos_probe"

    def _run(self, ctx, kind: str, n: int) -> None:
        self._record(f"{kind} {n}", f"{ctx.ts} {time.time():.6f}")

    @command("count {n:int}")
    def count(self, ctx, n: int) -> None:
        """Record one run of command n."""
        self._run(ctx, "count", n)
        ctx.reply(f"counted {n}")

    @command("ping {n:int}", mode="broadcast")
    def ping(self, ctx, n: int) -> None:
        """Every Pi records command n."""
        self._run(ctx, "ping", n)

    @command("lamp {n:int} on for {s:int} seconds")
    def lamp_on(self, ctx, n: int, s: int) -> None:
        """Switch lamp n on, and back off after s seconds (Slack posts the switch back)."""
        self._run(ctx, "lamp-on", n)
        post_at = math.ceil(time.time() + s)
        self.host.schedule_command(f"lamp {n} off", post_at, on_behalf_of=ctx.user)
        ctx.reply(f"lamp {n} is on for {s} seconds")

    @command("lamp {n:int} off")
    def lamp_off(self, ctx, n: int) -> None:
        """Switch lamp n off (what a timer posts)."""
        self._run(ctx, "lamp-off", n)
        ctx.reply(f"lamp {n} is off")

    @command("panel {n:int}")
    def show_panel(self, ctx, n: int) -> None:
        """A panel with one button, `count n`: the chaos run clicks it (issue 15)."""
        ctx.panel(self.panel(f"chaos-{n}"))

    def panel(self, name: str):
        kind, _, n = name.partition("-")
        if kind != "chaos" or not n.isdigit():
            return None
        return Panel(name, f"Panel {n}", [Row(f"count {n}", [Button("Count", f"count {n}")])],
                     host=self.host.name)
