"""Each Pi's step in an update or rollback, read from the channel as the Pis post it.

The update plugin tags every post in its thread (metadata `update`: plan, ready,
unready, done, skipped, halt, summary; `host` names the Pi); a rollout's turn is
a pin on the `update rollout v` post (or on the person's `rollback`). From these
the Pi cards say what each Pi is doing: preparing, ready, its turn, now on v.
The steps clear when the summary is posted.
"""

from __future__ import annotations

import re
from typing import Any

from troupe.demo.chat import short

_ROLLOUT = re.compile(r"^update rollout (\S+)")
_ROLLBACK = re.compile(r"^\s*rollback\s*$")


class UpdateSteps:
    """What each Pi is doing in the update under way: Pi name -> a few words."""

    def __init__(self, pis: list[str]) -> None:
        self.pis = list(pis)
        self.steps: dict[str, str] = {}
        self.under_way = False  # from the plan to the summary (or a halt)
        self.turns: dict[str, str] = {}  # ts of a sequential post -> what a turn on it does

    def on_message(self, msg: dict[str, Any], payload: dict[str, Any]) -> bool:
        """A message as the page shows it (`text` plain) and its metadata's payload;
        True if a step changed."""
        text = msg["text"]
        rollout = _ROLLOUT.match(text) if msg["kind"] == "pi" else None
        if rollout:
            self.turns[msg["ts"]] = f"its turn: switching to {rollout.group(1)}, restarting"
            self.steps = {name: f"ready; waiting for its turn to switch to {rollout.group(1)}"
                          for name in self.pis}
            return True
        if msg["kind"] == "person" and _ROLLBACK.match(text):
            self.turns[msg["ts"]] = "its turn: going back to its previous release, restarting"
            self.under_way = True
            return True
        kind, host = payload.get("update"), payload.get("host", "")
        if msg["kind"] != "pi" or not kind:
            return False
        if kind == "plan":
            self.under_way = True
            self.steps = {name: f"preparing {payload.get('to', 'it')}: building, checking"
                          for name in self.pis}
        elif kind == "summary":
            self.steps, self.under_way = {}, False
        elif kind == "halt":
            self.under_way = False
            for name in self.pis:
                if not self.steps.get(name, "").startswith(("now on", "back on")):
                    self.steps[name] = "update halted (the thread says why)"
        elif kind in ("ready", "unready", "done", "skipped") and host in self.pis:
            said = text.removeprefix(host).lstrip(":").strip().split(". Canary")[0]
            self.steps[host] = short(said, 60)
        else:
            return False
        return True

    def on_pin(self, ts: str, name: str) -> bool:
        """A pin: on a rollout's post, that Pi's turn."""
        if ts in self.turns and name in self.pis:
            self.steps[name] = self.turns[ts]
            return True
        return False
