"""The takeover election's rules: the thread replies that bid for a pin, and who wins.

Would-be takers post ``slackmq-takeover <me> of <user>@<created> on <ts>`` in the
thread of the claimed message; the earliest eligible reply about a pin wins its
round (docs/slackmq.md). Both takers (takeover.py) and a holder that finishes
late (claim.py: was the claim taken from it?) read the thread this way.
"""

from __future__ import annotations

from typing import Any

from .channel import PIN_CLOCK_GRAIN, Channel, Holder
from .heartbeat import HEARTBEAT_TAG

TAKEOVER_TAG = "slackmq-takeover"


def elect(replies: list[dict[str, Any]], h: Holder, lease: float) -> str | None:
    """The ts of the winning takeover reply, from the thread of the claimed message.

    Only takeover replies about this pin count: those naming ``h`` as
    ``of <user>@<since> on <ts>`` (replies about an earlier pin of the message,
    e.g. an earlier sequence turn, by a taker that read an older holder, or
    about another message of the same thread, are ignored; a reply without
    ``on <ts>``, from an older slackmq, counts for any message of its thread).
    Replies are walked in ts order (Slack's total order). A takeover
    reply is eligible when it is at least ``lease`` after the pin, the holder's
    last heartbeat (slackmq/heartbeat.py) or the previous winner (that winner may
    have died too), or, before any winner, when it comes from the pin's own
    creator (it restarted). Heartbeats count only from the current holder: the
    pin's creator before any winner, the winner after. Everyone who reads a
    prefix of the thread that contains their own reply computes the same
    winners for that prefix.
    """
    return _walk(replies, h, lease)[0]


def silent_since(replies: list[dict[str, Any]], h: Holder, lease: float) -> float:
    """Since when (Slack's clock) the current holder of ``h`` has given no sign of life:
    the pin (+ the grain of ``created``), its last heartbeat, or the last winner."""
    return _walk(replies, h, lease)[1]


def renewed(replies: list[dict[str, Any]], h: Holder, lease: float) -> float | None:
    """The ts of the last heartbeat by the pin's creator before the first winner, if any:
    it was alive and working then (a taker reports "did not finish", not "stopped")."""
    return _walk(replies, h, lease)[2]


def _walk(
    replies: list[dict[str, Any]], h: Holder, lease: float
) -> tuple[str | None, float, float | None]:
    about = title(h)
    mine = []
    for r in replies:
        words = str(r.get("text", "")).split()
        if len(words) < 2 or float(r.get("ts", 0)) < h.since:
            continue
        if r.get("user", words[1]) != words[1]:  # a reply in another's name counts for nothing
            continue
        if (
            len(words) >= 4
            and words[0] == TAKEOVER_TAG
            and words[2:4] == ["of", about]
            and words[4:6] in ([], ["on", h.ts])  # a thread may hold several claimed messages
        ):
            mine.append((float(r["ts"]), True, words[1], r["ts"]))
        elif words[0] == HEARTBEAT_TAG and words[2:4] == ["on", h.ts]:
            mine.append((float(r["ts"]), False, words[1], r["ts"]))
    mine.sort()
    # pins.list ``created`` is whole seconds: the pin may be up to 1 s younger.
    t = h.since + PIN_CLOCK_GRAIN
    winner: str | None = None
    holder, beat = h.user_id, None
    for rts, bid, by, ts in mine:
        if not bid:
            if by == holder:  # the current holder is alive: silence counts from here
                t = max(t, rts)
                beat = rts if winner is None else beat
        elif rts >= t + lease or (winner is None and by == h.user_id):
            winner, t, holder = ts, rts, by
    return winner, t, beat


def title(h: Holder) -> str:
    """How a takeover reply names the pin it is about: ``<user>@<created>``."""
    return f"{h.user_id}@{h.since:.0f}"


def takeover_text(me: str, h: Holder) -> str:
    """The election reply of ``me`` about the pin ``h`` (``elect`` counts only these)."""
    return f"{TAKEOVER_TAG} {me} of {title(h)} on {h.ts}"


def replies_of(mq: Channel, ts: str) -> tuple[list[dict[str, Any]], int]:
    """The thread of ``ts`` (every page)."""
    replies: list[dict[str, Any]] = []
    cursor, calls = None, 0
    while True:
        params: dict[str, Any] = {"channel": mq.channel, "ts": ts, "limit": 200}
        if cursor:
            params["cursor"] = cursor
        page, _, n = mq._api("conversations.replies", **params)
        calls += n
        replies.extend(m for m in page.get("messages") or []  # only trusted users bid
                       if mq.trusted is None or mq.trusted(str(m.get("user", ""))))
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return replies, calls


def by(replies: list[dict[str, Any]], reply_ts: str) -> str | None:
    """Who wrote the takeover reply ``reply_ts`` (its second word)."""
    for r in replies:
        if r.get("ts") == reply_ts:
            words = str(r.get("text", "")).split()
            return words[1] if len(words) > 1 else None
    return None
