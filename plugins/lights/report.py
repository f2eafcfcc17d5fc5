"""How `lights` gives one complete answer when GPIO lights hang off other Pis.

The Pi running `lights` reads the Hue bridge and its own pins itself. Only the
Pi a relay is wired to knows that relay's state, so it asks (`ctx.gather`): it
posts the federation command `report gpio lights` in the command's thread;
every Pi with GPIO lights answers there with one line per light; the asking Pi
collects those answers until every Pi it needs has answered or the wait is
over, and then posts the single answer. A Pi that did not answer is named in it.

Why not keep GPIO state somewhere every Pi can read? Slack is the only thing
the Pis share, and a stored state goes stale the moment its Pi restarts (its
pins reset) or dies; asking the Pi that owns the pin is never stale, and says
so when the Pi is gone. The price is a short exchange in the command's thread.
"""

from __future__ import annotations

from collections.abc import Iterable

REPORT_COMMAND = "report gpio lights"


def line(name: str, state: str) -> str:
    """One light in an answer: `- porch: on (GPIO 17 on pi-2)`."""
    return f"- {name}: {state}"


def report_lines(answers: Iterable[str], names: list[str]) -> dict[str, str]:
    """The lines (by light name, casefolded) in other Pis' answers to `report gpio lights`."""
    lines: dict[str, str] = {}
    for answer in answers:
        for text in answer.splitlines():
            for name in names:
                if text.casefold().startswith(f"- {name.casefold()}:"):
                    lines[name.casefold()] = text
    return lines
