"""A sequence's turns, ordered in the thread: who started a turn, and which are still open.

A worker that won a sequence's pin posts ``slackmq-turn <me> on <ts>`` in the
thread, then reads the thread. Its turn starts only if every earlier turn by
another worker is accounted for: that worker's own outcome marker is on the
message (it finished), or an election about its turn was won (it went silent
for a lease: slackmq/election.py). A pin that vanished (a person or another app
removed it, a late unpin) therefore never starts a second turn by itself: the
next worker finds the earlier turn still open, gives its pin back and looks
again a lease after that turn's last sign of life. Two workers that posted at
about the same time both read a thread holding both records (Slack's total
order, docs/slackmq.md fact 3): the earlier one goes, the later one waits.
"""

from __future__ import annotations

import math
from typing import Any

from .channel import Channel, Holder
from .election import elect, silent_since

TURN_TAG = "slackmq-turn"


def turn_text(me: str, ts: str) -> str:
    return f"{TURN_TAG} {me} on {ts}"


def turns(mq: Channel, replies: list[dict[str, Any]], ts: str) -> dict[str, Holder]:
    """Each worker's first turn record on ``ts`` (its place in line), as the holder a
    takeover election names: ``user@<the record's whole second>``."""
    out: dict[str, Holder] = {}
    for r in sorted(replies, key=lambda r: float(r.get("ts", 0))):
        words = str(r.get("text", "")).split()
        if len(words) == 4 and words[0] == TURN_TAG and words[2:] == ["on", ts]:
            if r.get("user", words[1]) == words[1] and words[1] not in out:
                out[words[1]] = Holder(words[1], math.floor(float(r["ts"])), ts, mq.clock.now)
    return out


def open_turns(
    mq: Channel, replies: list[dict[str, Any]], reactions: list[dict[str, Any]], ts: str
) -> list[Holder]:
    """The turns by other workers not accounted for (no outcome marker of their own, no
    takeover won about them), oldest first."""
    me = mq.user_id
    return [
        h for user, h in turns(mq, replies, ts).items()
        if user != me
        and mq.markers.outcome_of(reactions, user=user) is None
        and elect(replies, h, mq.lease) is None
    ]


def look_again_at(replies: list[dict[str, Any]], h: Holder, lease: float) -> float:
    """When (Slack's clock) the open turn ``h`` may be taken over: a lease after its last
    sign of life (its record, its heartbeats), + the record's sub-second part."""
    return silent_since(replies, h, lease) + lease
