"""How `lights` gives one complete answer when GPIO lights hang off other Pis.

The Pi running `lights` reads the Hue bridge and its own pins itself. Only the
Pi a relay is wired to knows that relay's state, so it asks: it posts the
federation command `report gpio lights` in the command's thread; every Pi
with GPIO lights answers there with one line per light (an ordinary answer,
whose metadata names the command it answers and the Pi); the asking Pi reads
those answers back until every Pi it needs has answered or the wait is over,
and then posts the single answer. A Pi that did not answer is named in it.

Why not keep GPIO state somewhere every Pi can read? Slack is the only thing
the Pis share, and a stored state goes stale the moment its Pi restarts (its
pins reset) or dies; asking the Pi that owns the pin is never stale, and says
so when the Pi is gone. The price is a short exchange in the command's thread.
"""

from __future__ import annotations

import time
from typing import Any

from troupe.text import unescape

REPORT_COMMAND = "report gpio lights"
POLL_INTERVAL = 0.25


def line(name: str, state: str) -> str:
    """One light in an answer: `- porch: on (GPIO 17 on pi-2)`."""
    return f"- {name}: {state}"


def collect_reports(host: Any, root_ts: str, ask_ts: str, hosts: set[str], wait: float,
                    names: list[str]) -> dict[str, str]:
    """Lines (by light name, casefolded) that `hosts` posted in answer to `ask_ts`."""
    lines: dict[str, str] = {}
    answered: set[str] = set()
    deadline = time.monotonic() + wait
    while True:
        response = host.web.conversations_replies(channel=host.channel_id, ts=root_ts,
                                                  oldest=ask_ts, include_all_metadata=True)
        for message in response.get("messages", []):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("command_ts") != ask_ts or payload.get("host") not in hosts:
                continue
            answered.add(payload["host"])
            for text in unescape(message.get("text", "")).splitlines():
                for name in names:
                    if text.casefold().startswith(f"- {name.casefold()}:"):
                        lines[name.casefold()] = text
        if answered >= hosts or time.monotonic() > deadline:
            return lines
        time.sleep(POLL_INTERVAL)  # polling Slack for the answers, with a deadline
