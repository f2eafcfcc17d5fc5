"""The claim: pin a message to own its work, then record an outcome marker and unpin.

claim  = ``pins.add`` (``already_pinned`` -> lost), then, only if the pin was
ours, ``reactions.get``: an outcome marker there means the work already ran, so
the claimer removes its pin and reports ``done`` without running it.
finish = ``reactions.add`` (the outcome marker) and only then ``pins.remove``.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from .channel import PIN_CLOCK_GRAIN, Channel, Holder, PinTest
from .election import by, elect, replies_of
from .errors import SlackMQError
from .heartbeat import Heartbeat

log = logging.getLogger("slackmq")

Status = Literal["won", "lost", "done"]


class _Interrupted:
    """``claim.interrupted`` is both a flag and a method.

    ``if claim.interrupted:`` is true when the claim was taken over for work that
    is not idempotent: report it, do not run it. ``claim.interrupted()`` records
    the ``interrupted`` marker and releases. (``claim.report_only`` and
    ``claim.mark_interrupted()`` are the plain spellings.)
    """

    __slots__ = ("_claim",)

    def __init__(self, claim: Claim) -> None:
        self._claim = claim

    def __bool__(self) -> bool:
        return self._claim.report_only

    def __call__(self) -> None:
        self._claim.mark_interrupted()

    def __repr__(self) -> str:
        return repr(self._claim.report_only)


class Claim:
    """The result of a claim. ``status`` is ``won``, ``lost`` or ``done``.

    * ``won``: this caller holds the pin and must finish with ``done()``,
      ``failed()`` or ``interrupted()`` (each records a marker, then unpins), or
      use the claim as a context manager.
    * ``lost``: another worker holds the pin now. ``holder`` says who (one
      ``pins.list`` on first access).
    * ``done``: the work already ran; ``outcome`` says how
      (``done``/``failed``/``interrupted``/``declined``).
    """

    def __init__(
        self,
        mq: Channel,
        ts: str,
        status: Status,
        *,
        outcome: str | None = None,
        holder: Holder | None = None,
        taken_over: bool = False,
        report_only: bool = False,
        user: str | None = None,
        calls: int = 0,
        pin: PinTest | None = None,
    ) -> None:
        self.mq = mq
        self.ts = ts
        self.status: Status = status
        self.outcome = outcome
        self._holder = holder
        self.taken_over = taken_over
        self.report_only = report_only
        self.calls = calls  # Web API calls this claim cost so far
        self._user = user  # sequence claims: markers are this worker's own
        self._holds = pin  # which pin this claim holds: the only one its release may remove
        self._released = status != "won"
        self._on_release: list[Any] = []
        # When the claim was won, on Slack's clock: one held past the lease may have been
        # taken over, so its finish looks before it marks and unpins.
        self._started = mq.clock.now() if status == "won" else None
        self.superseded = False  # taken over while still held: finished without a marker
        # A takeover's: the last heartbeat seen of the holder (Slack's ts), None if it
        # never renewed: an alive holder "did not finish in time"; a lost takeover looks
        # again a lease after it.
        self.holder_renewed: float | None = None
        # A sequence turn that found an earlier turn still open (its pin had vanished):
        # that turn's holder, and when to look again (Slack's clock). slackmq/turns.py
        self.waiting_for: Holder | None = None
        self.look_again: float | None = None
        # Renews the claim every lease/3 while it is held (slackmq/heartbeat.py).
        self.heartbeat = Heartbeat(self) if status == "won" and mq.heartbeat else None

    @property
    def won(self) -> bool:
        return self.status == "won"

    @property
    def holder(self) -> Holder | None:
        if self._holder is None and self.status != "done":
            self._holder = self.mq.holder(self.ts)
        return self._holder

    @property
    def holder_seen(self) -> Holder | None:
        """The holder the claim already read (no call), e.g. the pin that beat a lost claim."""
        return self._holder

    @property
    def interrupted(self) -> _Interrupted:
        return _Interrupted(self)

    def done(self) -> None:
        """Record ``done`` and release."""
        self._finish("done")

    def failed(self) -> None:
        """Record ``failed`` and release. A late claimer will not run it again."""
        self._finish("failed")

    def mark_interrupted(self) -> None:
        """Record ``interrupted`` (the work may or may not have run) and release."""
        self._finish("interrupted")

    def declined(self) -> None:
        """Record ``declined`` (answered, but there was no work to do: an unknown command,
        a refusal) and release. Not ``done``: nothing was; a late claimer still skips it."""
        self._finish("declined")

    def _finish(self, outcome: str) -> None:
        if self._released:
            if self.status == "won":
                return  # already finished: idempotent
            raise SlackMQError(f"cannot mark {self.ts} {outcome}: this claim is {self.status}")
        if self.heartbeat is not None:
            self.heartbeat.stop()
        late = self._late()
        if late == "taken" and self._user is None:
            log.warning("%s %s: taken over while still held (past the lease): no %s marker,"
                        " no unpin", self.mq.name, self.ts, outcome)
            self.superseded = True
            self._let_go()
            return
        name = {v: k for k, v in self.mq.markers.names().items()}[outcome]
        self.calls += self.mq._call("reactions.add", name=name, timestamp=self.ts)
        self.outcome = outcome
        if late:  # the pin is no longer this claim's (a taker's, or the next turn's)
            self._let_go()
        else:
            self.release()

    def _late(self) -> str | None:
        """For a claim held past its lease: ``taken`` (a taker won it from us, or finished
        it), ``gone`` (our pin is gone: mark, but do not unpin), else None. Free (no call)
        for a claim finished within the lease."""
        mq = self.mq
        if self._started is None or mq.clock.now() - self._started < mq.lease - PIN_CLOCK_GRAIN:
            return None
        h = mq.holder(self.ts)
        self.calls += 1
        if h is None or not (self._holds or mq._by_me)(h):
            if self._user is None:
                reactions, n = mq._reactions(self.ts)
                self.calls += n
                if mq.markers.outcome_of(reactions) is not None:
                    return "taken"  # a taker finished it (reported it interrupted)
            return "gone"
        replies, n = replies_of(mq, self.ts)
        self.calls += n
        winner = elect(replies, h, mq.lease)
        return "taken" if winner is not None and by(replies, winner) != mq.user_id else None

    def release(self) -> None:
        """Unpin (after the outcome marker, if one was recorded). No-op unless won."""
        if self._released:
            return
        keep = self.outcome is not None and self._user is None and self.mq._keep(self.ts)
        if not keep:  # retain mode keeps a finished message pinned: late claims lose at once
            self.calls += self.mq._unpin(self.ts, self._holds)
        self._let_go()

    def _let_go(self) -> None:
        self._released = True
        if self.heartbeat is not None:
            self.heartbeat.stop()
        self.mq._forget(self.ts, self.outcome if self._user is None else None)
        for cb in self._on_release:
            cb(self)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._released:
            return
        if exc_type is not None:
            self.failed()
        elif self.report_only and self.outcome is None:
            self.mark_interrupted()
        else:
            self.done()

    def __repr__(self) -> str:
        extra = f" outcome={self.outcome}" if self.outcome else ""
        if self.taken_over:
            extra += f" taken_over report_only={self.report_only}"
        return f"<Claim {self.ts} {self.status}{extra}>"


def claim_message(mq: Channel, ts: str) -> Claim:
    """``SlackMQ.claim``: one ``pins.add``, plus ``reactions.get`` if won (see there)."""
    with mq._lock:
        if ts in mq._finished:  # the same event delivered twice: no call at all
            return Claim(mq, ts, "done", outcome=mq._finished[ts])
        if ts in mq._active:  # another thread of this worker holds it
            return Claim(mq, ts, "lost")
        unchecked = mq._unchecked.pop(ts, None)
    calls = 0
    if unchecked is not None:
        # Our pin from an earlier try whose markers we could not read: go on from there
        # while it is ours and younger than the lease (after that a taker may act on it).
        h = mq.holder(ts)
        calls += 1
        if h is not None and unchecked(h):
            if h.age >= mq.lease:
                return Claim(mq, ts, "lost", holder=h, calls=calls)
            own = unchecked
        else:
            unchecked = None
    if unchecked is None:
        ours, n, seen, own = mq._pin(ts)
        calls += n
        if not ours:
            return Claim(mq, ts, "lost", holder=seen, calls=calls)
    with mq._lock:
        mq._active.add(ts)
    if mq._fast(ts):
        # Retain mode, young message: a finished one would still be pinned, so
        # our pin proves it has not run. One round trip. (docs/slackmq.md)
        return Claim(mq, ts, "won", calls=calls, pin=own)
    try:
        reactions, n = mq._reactions(ts)
    except BaseException:
        # We hold the pin but cannot tell whether the work ran. Leave the pin: a
        # later claim here goes on from it (within the lease); after the lease a
        # takeover frees it.
        mq._forget(ts, None)
        with mq._lock:
            mq._unchecked[ts] = own
        raise
    calls += n
    outcome = mq.markers.outcome_of(reactions)
    if outcome is not None:
        # Late: the work ran and was released before we pinned. Give it back.
        calls += mq._give_back(ts, own)
        mq._forget(ts, outcome)
        return Claim(mq, ts, "done", outcome=outcome, calls=calls)
    return Claim(mq, ts, "won", calls=calls, pin=own)
