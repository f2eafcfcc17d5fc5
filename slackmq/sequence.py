"""Sequences: one message, several workers, each runs once, one at a time.

Each worker claims the pin in turn; its own reaction (reactions are per user)
says it ran.
"""

from __future__ import annotations

import time

from .channel import Channel, Holder
from .claim import Claim
from .errors import SlackMQTimeout
from .takeover import run_election


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
        """``won``: your turn, run now. ``done``: you already ran. ``lost``: someone else's turn."""
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
        claim = Claim(mq, self.ts, "won", user=me, calls=calls, pin=own)
        claim._on_release.append(self._released)
        return claim

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

    def wait_turn(self, timeout: float = 300.0, poll: float = 0.2, max_poll: float = 5.0) -> Claim:
        """Call ``turn()`` until it is not ``lost``; back off from ``poll`` to ``max_poll``.

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
            time.sleep(min(delay, left))
            delay = min(max_poll, delay * 2)

    def take_over(self) -> Holder | None:
        """Free the turn of a worker that died holding it.

        Returns the interrupted holder when this caller won the takeover and
        removed the stale pin (report it: that worker's turn may or may not have
        run), None otherwise. Then call ``turn()`` as usual.
        """
        mq = self.mq
        h = mq.holder(self.ts)
        if h is None:
            return None
        if h.user_id != mq.user_id and h.age < mq.lease:
            # Young, even if ``h`` has its own marker: that marker is from its earlier
            # turn and this pin is its ``turn()`` probe, which unpins it itself. Our
            # unpin would race that one, which could then remove the next worker's pin.
            return None
        reactions, _ = mq._reactions(self.ts)
        if mq.markers.outcome_of(reactions, user=h.user_id) is not None:
            mq._unpin(self.ts, h.__eq__)  # it ran and died before unpinning
            return None
        won, _, _ = run_election(mq, self.ts, h)
        if not won:
            return None
        if mq.holder(self.ts) != h:
            return None  # the turn moved on while we elected (we had read an older pin)
        mq._unpin(self.ts, h.__eq__)
        return h
