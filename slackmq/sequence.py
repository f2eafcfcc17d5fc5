"""Sequences: one message, several workers, each runs once, one at a time.

Each worker claims the pin in turn and records its turn in the thread
(slackmq/turns.py); its own reaction (reactions are per user) says it ran. A
turn starts only when every earlier turn is accounted for (done, or taken over),
never on a pin's disappearance alone.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .channel import Channel, Holder
from .claim import Claim
from .election import replies_of
from .errors import SlackMQConfigError, SlackMQTimeout
from .takeover import run_election
from .turns import look_again_at, open_turns, turn_text, turns

log = logging.getLogger("slackmq")


class Sequence:
    """One message, several workers, each runs once, one at a time.

    The pin is the turn; each worker's own reaction (reactions are per user)
    records that it ran. Call ``turn()`` again when a ``pin_removed`` event
    arrives, or ``wait_turn()`` to poll with backoff.
    """

    def __init__(self, mq: Channel, ts: str) -> None:
        self.mq = mq
        self.ts = ts
        self._ran: str | None = None

    def turn(self) -> Claim:
        """``won``: your turn, run now. ``done``: you already ran. ``lost``: someone else's
        turn: its pin (wait for ``pin_removed``), or, with ``waiting_for`` set, an earlier
        turn still open though its pin is gone (look again at ``look_again``, Slack's
        clock; ``take_over()`` then frees it if it expired)."""
        mq = self.mq
        if self._ran is not None:
            return Claim(mq, self.ts, "done", outcome=self._ran)
        me = mq.user_id
        ours, calls, seen, own = mq._pin(self.ts)
        if not ours:
            return Claim(mq, self.ts, "lost", holder=seen, calls=calls)
        reactions, n = mq._reactions(self.ts)
        calls += n
        outcome = mq.markers.outcome_of(reactions, user=me)
        if outcome is not None:
            calls += mq._unpin(self.ts, own)
            self._ran = outcome
            return Claim(mq, self.ts, "done", outcome=outcome, calls=calls)
        # Order this turn in the thread, then read it: our own record is in what we read,
        # and so is every record before it (a worker whose pin vanished, still in its turn).
        calls += mq._call("chat.postMessage", thread_ts=self.ts, text=turn_text(me, self.ts))
        replies, n = replies_of(mq, self.ts)
        calls += n
        ahead = [h for h in open_turns(mq, replies, reactions, self.ts)
                 if _before(replies, h, me)]
        if ahead:
            h = ahead[0]
            log.warning("%s sequence %s: the pin was free but %s's turn is still open"
                        " (no marker, not taken over): waiting", mq.name, self.ts, h.user_id)
            calls += self._withdraw(replies) + mq._unpin(self.ts, own)
            lost = Claim(mq, self.ts, "lost", holder=h, calls=calls)
            lost.waiting_for, lost.look_again = h, look_again_at(replies, h, mq.lease)
            return lost
        claim = Claim(mq, self.ts, "won", user=me, calls=calls, pin=own)
        claim._on_release.append(self._released)
        return claim

    def _withdraw(self, replies: list[dict[str, Any]]) -> int:
        """Delete this worker's turn records (it waits: its place must not hold others up)."""
        calls = 0
        for r in _records(replies, self.mq.user_id, self.ts):
            try:
                calls += self.mq._call("chat.delete", ts=r["ts"])
            except SlackMQConfigError as e:
                if e.error != "message_not_found":  # a re-sent delete finds it gone
                    raise
        return calls

    def resume(self) -> Claim:
        """After a restart: if this worker's own pin holds the turn, return it as won
        (``taken_over`` True) so the caller can finish it, e.g. an update that restarted
        the process mid-turn marks ``done()``. Otherwise the same as ``turn()``.
        """
        mq = self.mq
        h = mq.holder(self.ts)
        if h is None or h.user_id != mq.user_id:
            return self.turn()
        reactions, _ = mq._reactions(self.ts)
        outcome = mq.markers.outcome_of(reactions, user=h.user_id)
        if outcome is not None:  # finished, died before unpinning
            mq._unpin(self.ts, h.__eq__)
            self._ran = outcome
            return Claim(mq, self.ts, "done", outcome=outcome)
        claim = Claim(
            mq, self.ts, "won", holder=h, taken_over=True, user=mq.user_id, pin=h.__eq__
        )
        claim._on_release.append(self._released)
        return claim

    def _released(self, claim: Claim) -> None:
        if claim.outcome is not None:
            self._ran = claim.outcome
        elif not claim.taken_over:  # given back unrun: its record must not hold others up
            try:
                replies, _ = replies_of(self.mq, self.ts)
                self._withdraw(replies)
            except Exception as e:  # noqa: BLE001 - the others take it over after a lease
                log.warning("%s sequence %s: could not withdraw a turn record: %s",
                            self.mq.name, self.ts, e)

    def wait_turn(self, timeout: float = 300.0, poll: float = 0.2, max_poll: float = 5.0) -> Claim:
        """Call ``turn()`` until it is not ``lost``; back off from ``poll`` to ``max_poll``
        (behind an open turn whose pin vanished: until its ``look_again``; it does not
        take over: call ``take_over()`` for that).

        Raises ``SlackMQTimeout`` after ``timeout`` seconds.
        """
        end = time.monotonic() + timeout
        delay = poll
        while True:
            claim = self.turn()
            if claim.status != "lost":
                return claim
            left = end - time.monotonic()
            if left <= 0:
                raise SlackMQTimeout(
                    f"sequence {self.ts}: not our turn within {timeout:g}s", method="pins.add"
                )
            if claim.look_again is not None:  # an earlier turn is open: its lease decides
                time.sleep(min(max(delay, claim.look_again - self.mq.clock.now()), left))
                continue
            time.sleep(min(delay, left))
            delay = min(max_poll, delay * 2)

    def take_over(self) -> Holder | None:
        """Free the turn of a worker that died holding it (its pin, or its open turn
        record when its pin is gone).

        Returns the interrupted holder when this caller won the takeover election
        about that turn (report it: that worker's turn may or may not have run),
        None otherwise. Then call ``turn()`` as usual.
        """
        mq = self.mq
        me = mq.user_id
        h = mq.holder(self.ts)
        if h is not None and h.user_id != me and h.age < mq.lease:
            # Young, even if ``h`` has its own marker: that marker is from its earlier
            # turn and this pin is its ``turn()`` probe, which unpins it itself. Our
            # unpin would race that one, which could then remove the next worker's pin.
            return None
        reactions, _ = mq._reactions(self.ts)
        if h is not None and mq.markers.outcome_of(reactions, user=h.user_id) is not None:
            mq._unpin(self.ts, h.__eq__)  # it ran and died before unpinning
            return None
        replies, _ = replies_of(mq, self.ts)
        if h is not None:  # the election names its turn record when it has one
            target: Holder | None = turns(mq, replies, self.ts).get(h.user_id, h)
        else:  # a pin that vanished: the earliest turn still open, if any
            target = next(iter(open_turns(mq, replies, reactions, self.ts)), None)
        if target is None:
            return None
        won, _, _ = run_election(mq, self.ts, target)
        if not won:
            return None
        if h is not None:
            if mq.holder(self.ts) != h:
                return None  # the turn moved on while we elected (we had read an older pin)
            mq._unpin(self.ts, h.__eq__)
        return target


def _records(replies: list[dict[str, Any]], user: str, ts: str) -> list[dict[str, Any]]:
    text = turn_text(user, ts)
    return [r for r in replies if r.get("user") == user and r.get("text") == text]


def _before(replies: list[dict[str, Any]], h: Holder, me: str) -> bool:
    """Whether ``h``'s first record comes before ``me``'s first (Slack's ts order)."""
    def first(user: str) -> float:
        found = [float(r["ts"]) for r in _records(replies, user, h.ts)]
        return min(found) if found else float("inf")
    return first(h.user_id) < first(me)
