"""Schedules across Pis: Slack shows each app only its own scheduled messages.

So no Pi can list or withdraw a firing another Pi scheduled. The Pi that answers
`schedules` or `cancel schedule <id>` asks the others in the command's thread (a
broadcast command, `ctx.gather`): each lists, or withdraws, its own pending firings
and answers there. A Pi that is down cannot answer; its answer-less state is named
in the reply, and the cancel's answer is the record it acts on later: at start a Pi
withdraws its firings of schedules cancelled while it was away, and a firing Slack
posts for a cancelled schedule is not run (`Schedules.fire`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .store import Firing

WITHDREW_RE = re.compile(r"withdrew (?P<gone>\d+), refused (?P<refused>\d+)")


def listing(firings: Iterable[Firing], tz: Any) -> str:
    """A Pi's answer to `schedule list for ...`: one firing text a line."""
    lines = [f.text(tz) for f in firings]
    return "Pending here:\n" + "\n".join(lines) if lines else "Pending here: none"


def parse_listing(answer: str) -> list[Firing]:
    return [f for f in (Firing.parse(line) for line in answer.splitlines()[1:]) if f]


def withdrawn(gone: int, refused: int, firings: Iterable[Firing], tz: Any) -> str:
    """A Pi's answer to `withdraw schedule ...`: counts, then the firings it held."""
    return "\n".join([f"withdrew {gone}, refused {refused}", *(f.text(tz) for f in firings)])


def parse_withdrawn(answer: str) -> tuple[int, int, list[Firing]]:
    found = WITHDREW_RE.search(answer)
    if not found:
        return 0, 0, []
    return int(found["gone"]), int(found["refused"]), parse_listing(answer)
