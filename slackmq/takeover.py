"""Leases and takeovers: freeing the pin of a worker that died holding it.

A pin older than its lease with no outcome marker is stale. Would-be takers
post a thread reply naming that pin, and the earliest eligible reply about it
(Slack orders ts) wins; the winner acts only if that pin is still there. Also
``sweep``: unpinning finished messages that stayed pinned. docs/slackmq.md has
why exactly one taker wins.
"""

from __future__ import annotations

import logging

from .channel import Channel, Holder
from .claim import Claim, claim_message
from .election import (
    TAKEOVER_TAG,
    by,
    elect,
    renewed,
    replies_of,
    silent_since,
    takeover_text,
    title,
)

__all__ = ["TAKEOVER_TAG", "elect", "run_election", "stale", "stale_claims", "sweep", "take_over"]

log = logging.getLogger("slackmq")

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


def run_election(mq: Channel, ts: str, h: Holder) -> tuple[bool, int, float | None]:
    """Post a takeover reply: (won, calls, the holder's last heartbeat or None). See
    docs/slackmq.md.

    One reply per round: a worker that already posted about ``h`` reads the thread
    first, and posts again only when no reply won yet or the winner's round is over
    (a lease after it, on Slack's clock: that winner may have died too).
    """
    me = mq.user_id
    about = (ts, title(h))
    # Silence is measured on Slack's clock from the holder's last heartbeat, not from the
    # pin: a holder that renews its claim is slow, not gone, and gets no bid at all.
    replies, calls = replies_of(mq, ts)
    quiet = silent_since(replies, h, mq.lease)
    winner = elect(replies, h, mq.lease)
    if winner is None:
        # A restarted holder bids at once; others once the holder was silent for a lease
        # (Slack's clock as learnt; the reply's ts decides eligibility anyway).
        if h.user_id != me and mq.clock.now() < quiet + mq.lease:
            log.info("%s takeover of %s: the holder is alive (last sign at %.1f)",
                     mq.name, ts, quiet)
            return False, calls, renewed(replies, h, mq.lease)
    else:
        ours = about in mq._voted and by(replies, winner) == me  # not an earlier life's
        if ours or not mq.clock.surely_past(quiet + mq.lease):
            # One reply a round: this round is decided (its winner renews it while alive).
            log.info("%s takeover of %s: round already decided (winner %s)", mq.name, ts,
                     winner)
            return ours, calls, renewed(replies, h, mq.lease)
    data, _, n = mq._api(
        "chat.postMessage",
        channel=mq.channel,
        thread_ts=ts,
        text=takeover_text(me, h),
    )
    calls += n
    mq._voted[about] = True
    while len(mq._voted) > 4096:
        mq._voted.popitem(last=False)
    mine = str(data.get("ts") or (data.get("message") or {}).get("ts"))
    replies, n = replies_of(mq, ts)
    calls += n
    winner = elect(replies, h, mq.lease)
    log.info("%s takeover of %s: winner %s, mine %s", mq.name, ts, winner, mine)
    # Ours if we wrote it: after a lost answer the reply was re-sent, and the first copy
    # (whose ts we never learnt) may be the one that won.
    return winner is not None and by(replies, winner) == me, calls, renewed(replies, h, mq.lease)


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
    done, calls = _finished(mq, ts, h, calls)  # it ran and its holder died (or will unpin)
    if done is not None:
        return done
    with mq._lock:
        held_here = ts in mq._active
    restarted = h.user_id == mq.user_id and not held_here
    if held_here or (not restarted and h.age < mq.lease):
        return Claim(mq, ts, "lost", holder=h, calls=calls)
    won, n, beat = run_election(mq, ts, h)
    calls += n
    if not won:
        lost = Claim(mq, ts, "lost", holder=h, calls=calls)
        lost.holder_renewed = beat  # alive then: look again a lease after it
        return lost
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
    done, calls = _finished(mq, ts, h, calls)  # it may have finished while we elected
    if done is not None:
        return done
    with mq._lock:
        mq._active.add(ts)
    claim = Claim(
        mq,
        ts,
        "won",
        holder=h,
        taken_over=True,
        report_only=not idempotent,
        calls=calls,
        pin=h.__eq__,  # the taker holds h's pin: its release removes that one only
    )
    claim.holder_renewed = beat  # the holder was alive, working, until then: not dead
    return claim


def _finished(mq: Channel, ts: str, h: Holder, calls: int) -> tuple[Claim | None, int]:
    """If `h` marked `ts` done, give its pin back and return the finished claim (with the
    calls spent so far, these included)."""
    reactions, n = mq._reactions(ts)
    calls += n
    outcome = mq.markers.outcome_of(reactions)
    if outcome is None:
        return None, calls
    calls += mq._give_back(ts, h.__eq__)
    mq._forget(ts, outcome)
    return Claim(mq, ts, "done", outcome=outcome, holder=h, calls=calls), calls
