"""Leases and takeovers: freeing the pin of a worker that died holding it.

A pin older than its lease with no outcome marker is stale. Would-be takers
post a thread reply naming that pin, and the earliest eligible reply about it
(Slack orders ts) wins; the winner acts only if that pin is still there. Also
``sweep``: unpinning finished messages that stayed pinned. docs/slackmq.md has
why exactly one taker wins.
"""

from __future__ import annotations

import logging
from typing import Any

from .channel import PIN_CLOCK_GRAIN, Channel, Holder
from .claim import Claim, claim_message

log = logging.getLogger("slackmq")

TAKEOVER_TAG = "slackmq-takeover"


def stale(mq: Channel, ts: str) -> Holder | None:
    """``SlackMQ.stale``: the holder of ``ts`` if its lease ran out without a marker."""
    h = mq.holder(ts)
    if h is None or h.age < mq.lease:
        return None
    reactions, _ = mq._reactions(ts)
    return h if mq.markers.outcome_of(reactions) is None else None


def stale_claims(mq: Channel) -> list[Holder]:
    """``SlackMQ.stale_claims``: every stale pin in the channel (one ``pins.list``)."""
    return [
        h
        for h, reactions in mq._pins()
        if h.age >= mq.lease and mq.markers.outcome_of(reactions) is None
    ]


def sweep(mq: Channel) -> list[str]:
    """``SlackMQ.sweep``: unpin finished messages left pinned; the ts unpinned."""
    out = []
    for h, reactions in mq._pins():
        if mq.markers.outcome_of(reactions) is None:
            continue
        old = mq._age(h.ts) >= mq.retain if mq.retain is not None else h.age >= mq.lease
        if old:
            mq._unpin(h.ts, h.__eq__)
            out.append(h.ts)
    return out


def run_election(mq: Channel, ts: str, h: Holder) -> tuple[bool, int]:
    """Post a takeover reply; True if it is the winning one. See docs/slackmq.md.

    One reply per round: a worker that already posted about ``h`` reads the thread
    first, and posts again only when no reply won yet or the winner's round is over
    (a lease after it, on Slack's clock: that winner may have died too).
    """
    me = mq.user_id
    about = (ts, _about(h))
    calls = 0
    if about in mq._voted:
        replies, calls = _replies(mq, ts)
        winner = elect(replies, h, mq.lease)
        if winner is not None and (
            _by(replies, winner) == me or not mq.clock.surely_past(float(winner) + mq.lease)
        ):
            log.info("%s takeover of %s: round already decided (winner %s)", mq.name, ts, winner)
            return _by(replies, winner) == me, calls
    data, _, n = mq._api(
        "chat.postMessage",
        channel=mq.channel,
        thread_ts=ts,
        text=_takeover_text(me, h),
    )
    calls += n
    mq._voted[about] = True
    while len(mq._voted) > 4096:
        mq._voted.popitem(last=False)
    mine = str(data.get("ts") or (data.get("message") or {}).get("ts"))
    replies, n = _replies(mq, ts)
    calls += n
    winner = elect(replies, h, mq.lease)
    log.info("%s takeover of %s: winner %s, mine %s", mq.name, ts, winner, mine)
    # Ours if we wrote it: after a lost answer the reply was re-sent, and the first copy
    # (whose ts we never learnt) may be the one that won.
    return winner is not None and _by(replies, winner) == me, calls


def _replies(mq: Channel, ts: str) -> tuple[list[dict[str, Any]], int]:
    """The thread of ``ts`` (every page)."""
    replies: list[dict[str, Any]] = []
    cursor, calls = None, 0
    while True:
        params: dict[str, Any] = {"channel": mq.channel, "ts": ts, "limit": 200}
        if cursor:
            params["cursor"] = cursor
        page, _, n = mq._api("conversations.replies", **params)
        calls += n
        replies.extend(page.get("messages") or [])
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return replies, calls


def _by(replies: list[dict[str, Any]], reply_ts: str) -> str | None:
    """Who wrote the takeover reply ``reply_ts`` (its second word)."""
    for r in replies:
        if r.get("ts") == reply_ts:
            words = str(r.get("text", "")).split()
            return words[1] if len(words) > 1 else None
    return None


def take_over(mq: Channel, ts: str, idempotent: bool) -> Claim:
    """``SlackMQ.take_over`` (see there): take ``ts`` over if its holder is gone."""
    with mq._lock:
        ours = ts in mq._unchecked
    if ours:  # our own claim, interrupted by an outage: the claim goes on from it
        return claim_message(mq, ts)
    h = mq.holder(ts)
    calls = 1
    if h is None:
        c = claim_message(mq, ts)
        c.calls += calls
        return c
    reactions, n = mq._reactions(ts)
    calls += n
    outcome = mq.markers.outcome_of(reactions)
    if outcome is not None:
        # It ran and its holder died (or is about to unpin): clean up the pin.
        calls += mq._give_back(ts, h.__eq__)
        mq._forget(ts, outcome)
        return Claim(mq, ts, "done", outcome=outcome, holder=h, calls=calls)
    with mq._lock:
        held_here = ts in mq._active
    restarted = h.user_id == mq.user_id and not held_here
    if held_here or (not restarted and h.age < mq.lease):
        return Claim(mq, ts, "lost", holder=h, calls=calls)
    won, n = run_election(mq, ts, h)
    calls += n
    if not won:
        return Claim(mq, ts, "lost", holder=h, calls=calls)
    # We won an election about ``h``; act only if ``h`` still holds the pin. A
    # taker that read ``h`` long ago (it stalled a lease) may win a late round
    # about it after the pin was released and claimed afresh.
    now = mq.holder(ts)
    calls += 1
    if now != h:
        if now is None:  # released meanwhile: an ordinary claim decides
            c = claim_message(mq, ts)
            c.calls += calls
            return c
        return Claim(mq, ts, "lost", holder=now, calls=calls)
    # The holder may have finished while we were electing.
    reactions, n = mq._reactions(ts)
    calls += n
    outcome = mq.markers.outcome_of(reactions)
    if outcome is not None:
        calls += mq._give_back(ts, h.__eq__)
        mq._forget(ts, outcome)
        return Claim(mq, ts, "done", outcome=outcome, holder=h, calls=calls)
    with mq._lock:
        mq._active.add(ts)
    return Claim(
        mq,
        ts,
        "won",
        holder=h,
        taken_over=True,
        report_only=not idempotent,
        calls=calls,
        pin=h.__eq__,  # the taker holds h's pin: its release removes that one only
    )


def elect(replies: list[dict[str, Any]], h: Holder, lease: float) -> str | None:
    """The ts of the winning takeover reply, from the thread of the claimed message.

    Only takeover replies about this pin count: those naming ``h`` as
    ``of <user>@<since> on <ts>`` (replies about an earlier pin of the message,
    e.g. an earlier sequence turn, by a taker that read an older holder, or
    about another message of the same thread, are ignored; a reply without
    ``on <ts>``, from an older slackmq, counts for any message of its thread).
    Replies are walked in ts order (Slack's total order). A takeover
    reply is eligible when it is at least ``lease`` after the pin (or after the
    previous winner: that winner may have died too), or, before any winner,
    when it comes from the pin's own creator (it restarted). Everyone who reads
    a prefix of the thread that contains their own reply computes the same
    winners for that prefix.
    """
    about = _about(h)
    mine = []
    for r in replies:
        words = str(r.get("text", "")).split()
        if (
            len(words) >= 4
            and words[0] == TAKEOVER_TAG
            and words[2:4] == ["of", about]
            and words[4:6] in ([], ["on", h.ts])  # a thread may hold several claimed messages
            and float(r.get("ts", 0)) >= h.since
        ):
            mine.append((float(r["ts"]), words[1], r["ts"]))
    mine.sort()
    # pins.list ``created`` is whole seconds: the pin may be up to 1 s younger.
    t = h.since + PIN_CLOCK_GRAIN
    winner: str | None = None
    for rts, by, ts in mine:
        if rts >= t + lease or (winner is None and by == h.user_id):
            winner, t = ts, rts
    return winner


def _about(h: Holder) -> str:
    """How a takeover reply names the pin it is about: ``<user>@<created>``."""
    return f"{h.user_id}@{h.since:.0f}"


def _takeover_text(me: str, h: Holder) -> str:
    """The election reply of ``me`` about the pin ``h`` (``elect`` counts only these)."""
    return f"{TAKEOVER_TAG} {me} of {_about(h)} on {h.ts}"
