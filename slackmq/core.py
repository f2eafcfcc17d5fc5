"""SlackMQ: a Slack message is a unit of work; a pin on it is the lock.

The protocol, why it is safe and what it cannot promise are in docs/slackmq.md.
In short:

* claim    = ``pins.add`` (``already_pinned`` -> lost), then, only if the pin was
  ours, ``reactions.get``: an outcome marker there means the work already ran,
  so the claimer removes its pin and reports ``done`` without running it.
* finish   = ``reactions.add`` (the outcome marker) and only then ``pins.remove``.
* take over = a pin older than its lease with no outcome marker; would-be takers
  post a thread reply naming that pin and the earliest eligible reply about it
  (Slack orders ts) wins; the winner acts only if that pin is still there.
* sequence = each worker claims the pin in turn; its own reaction says it ran.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from slack_sdk import WebClient

from ._calls import Caller
from .errors import SlackMQConfigError, SlackMQError, SlackMQTimeout

log = logging.getLogger("slackmq")

Status = Literal["won", "lost", "done"]
TAKEOVER_TAG = "slackmq-takeover"
PIN_CLOCK_GRAIN = 1.0  # pins.list gives ``created`` in whole seconds


@dataclass(frozen=True)
class Markers:
    """Reaction names that record an outcome. Set your own to share a channel."""

    done: str = "white_check_mark"
    failed: str = "x"
    interrupted: str = "warning"

    def names(self) -> dict[str, str]:
        """Map reaction name -> outcome, strongest first."""
        return {self.done: "done", self.failed: "failed", self.interrupted: "interrupted"}

    def outcome_of(self, reactions: list[dict[str, Any]], user: str | None = None) -> str | None:
        """The outcome recorded by ``reactions`` (by ``user`` only, if given), or None."""
        present = {
            r.get("name"): r.get("users", [])
            for r in reactions
            if user is None or user in r.get("users", [])
        }
        for name, outcome in self.names().items():
            if name in present:
                return outcome
        return None


@dataclass(frozen=True)
class Holder:
    """Who pinned a message (``pins.list`` ``created_by``) and when (``created``, epoch s)."""

    user_id: str
    since: float
    ts: str

    @property
    def age(self) -> float:
        """Seconds since the pin, by the local clock (conservative: ``created`` is whole s)."""
        return time.time() - self.since - PIN_CLOCK_GRAIN


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
      (``done``/``failed``/``interrupted``).
    """

    def __init__(
        self,
        mq: SlackMQ,
        ts: str,
        status: Status,
        *,
        outcome: str | None = None,
        holder: Holder | None = None,
        taken_over: bool = False,
        report_only: bool = False,
        user: str | None = None,
        calls: int = 0,
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
        self._released = status != "won"
        self._on_release: list[Any] = []

    @property
    def won(self) -> bool:
        return self.status == "won"

    @property
    def holder(self) -> Holder | None:
        if self._holder is None and self.status != "done":
            self._holder = self.mq.holder(self.ts)
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

    def _finish(self, outcome: str) -> None:
        if self._released:
            if self.status == "won":
                return  # already finished: idempotent
            raise SlackMQError(f"cannot mark {self.ts} {outcome}: this claim is {self.status}")
        name = {v: k for k, v in self.mq.markers.names().items()}[outcome]
        self.calls += self.mq._call("reactions.add", name=name, timestamp=self.ts)
        self.outcome = outcome
        self.release()

    def release(self) -> None:
        """Unpin (after the outcome marker, if one was recorded). No-op unless won."""
        if self._released:
            return
        keep = self.outcome is not None and self._user is None and self.mq._keep(self.ts)
        if not keep:  # retain mode keeps a finished message pinned: late claims lose at once
            self.calls += self.mq._call("pins.remove", timestamp=self.ts)
        self._released = True
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


class SlackMQ:
    """Slack pins as locks for several bots sharing one channel.

    Pass a ``slack_sdk.WebClient`` (one Slack app per worker), or ``token=``
    and optionally ``base_url=`` and slackmq builds one. ``lease`` is how long a
    claim may be held before another worker may take it over; it must be longer
    than the work. ``deadline`` bounds the retries of one Web API call.
    """

    def __init__(
        self,
        client: WebClient | None = None,
        channel: str = "",
        *,
        token: str | None = None,
        base_url: str | None = None,
        lease: float = 30.0,
        deadline: float = 20.0,
        markers: Markers | None = None,
        call_timeout: int = 10,
        name: str = "",
        retain: float | None = None,
        fresh: float = 60.0,
    ) -> None:
        if not channel:
            raise SlackMQConfigError("SlackMQ needs a channel id")
        if retain is not None and retain <= fresh + deadline:
            raise SlackMQConfigError(
                f"retain ({retain:g}s) must exceed fresh + deadline ({fresh + deadline:g}s);"
                " the difference is the clock skew tolerated"
            )
        if client is None:
            if not token:
                raise SlackMQConfigError("SlackMQ needs a WebClient or a token")
            kwargs: dict[str, Any] = {"token": token, "timeout": call_timeout, "retry_handlers": []}
            if base_url:
                kwargs["base_url"] = base_url
            client = WebClient(**kwargs)
        self.client = client
        self.channel = channel
        self.lease = float(lease)
        self.deadline = float(deadline)
        self.markers = markers or Markers()
        self.name = name
        self.retain = retain
        self.fresh = float(fresh)
        self._caller = Caller(client, self.deadline, name)
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._finished: OrderedDict[str, str] = OrderedDict()
        self._user_id: str | None = None

    # -- plumbing -----------------------------------------------------------

    @property
    def calls(self) -> int:
        """Web API round trips made so far (retries included)."""
        return self._caller.calls

    def _api(self, method: str, **params: Any) -> tuple[dict[str, Any], bool, int]:
        before = self._caller.calls
        data, ambiguous = self._caller(method, **params)
        return data, ambiguous, self._caller.calls - before

    def _call(self, method: str, **params: Any) -> int:
        params.setdefault("channel", self.channel)
        _data, _amb, n = self._api(method, **params)
        return n

    @property
    def user_id(self) -> str:
        """This worker's Slack user id (one ``auth.test``, cached)."""
        if self._user_id is None:
            data, _, _ = self._api("auth.test")
            self._user_id = str(data.get("user_id", ""))
        return self._user_id

    def _forget(self, ts: str, outcome: str | None) -> None:
        with self._lock:
            self._active.discard(ts)
            if outcome:
                self._finished[ts] = outcome
                while len(self._finished) > 4096:
                    self._finished.popitem(last=False)

    def _pin(self, ts: str) -> tuple[bool, int]:
        """pins.add. True when the pin is ours (resolving a retried, ambiguous call)."""
        data, ambiguous, n = self._api("pins.add", channel=self.channel, timestamp=ts)
        if data.get("ok"):
            return True, n
        if ambiguous:
            # An earlier attempt may have pinned it before its answer was lost.
            with self._lock:
                mine_here = ts in self._active
            h = self.holder(ts)
            n += 1
            if h is not None and h.user_id == self.user_id and not mine_here:
                log.info("%s pins.add %s: already_pinned by us after a retry: ours", self.name, ts)
                return True, n
        return False, n

    def _reactions(self, ts: str) -> tuple[list[dict[str, Any]], int]:
        data, _, n = self._api("reactions.get", channel=self.channel, timestamp=ts, full=True)
        msg = data.get("message") or {}
        return list(msg.get("reactions") or []), n

    def _unpin(self, ts: str) -> int:
        _, _, n = self._api("pins.remove", channel=self.channel, timestamp=ts)
        return n

    @staticmethod
    def _age(ts: str) -> float:
        """Seconds since the message was posted (its ts is Slack's clock; ours reads it)."""
        return time.time() - float(ts)

    def _fast(self, ts: str) -> bool:
        """Retain mode: a message this young cannot have been unpinned after it ran."""
        return self.retain is not None and self._age(ts) < self.fresh

    def _keep(self, ts: str) -> bool:
        """Retain mode: a finished message stays pinned until it is ``retain`` old."""
        return self.retain is not None and self._age(ts) < self.retain

    def _give_back(self, ts: str) -> int:
        """Unpin a message that already ran (unless retain mode keeps it pinned)."""
        return 0 if self._keep(ts) else self._unpin(ts)

    # -- claims -------------------------------------------------------------

    def claim(self, ts: str) -> Claim:
        """Claim the message ``ts``: one ``pins.add``, plus ``reactions.get`` if won.

        In retain mode a won claim on a message younger than ``fresh`` skips the
        ``reactions.get``, and ``lost`` may also mean "already done".
        """
        with self._lock:
            if ts in self._finished:  # the same event delivered twice: no call at all
                return Claim(self, ts, "done", outcome=self._finished[ts])
            if ts in self._active:  # another thread of this worker holds it
                return Claim(self, ts, "lost")
        ours, calls = self._pin(ts)
        if not ours:
            return Claim(self, ts, "lost", calls=calls)
        with self._lock:
            self._active.add(ts)
        if self._fast(ts):
            # Retain mode, young message: a finished one would still be pinned, so
            # our pin proves it has not run. One round trip. (docs/slackmq.md)
            return Claim(self, ts, "won", calls=calls)
        try:
            reactions, n = self._reactions(ts)
        except BaseException:
            # We hold the pin but cannot tell whether the work ran. Leave the pin:
            # it is freed by a takeover after the lease (or by our own restart).
            self._forget(ts, None)
            raise
        calls += n
        outcome = self.markers.outcome_of(reactions)
        if outcome is not None:
            # Late: the work ran and was released before we pinned. Give it back.
            calls += self._give_back(ts)
            self._forget(ts, outcome)
            return Claim(self, ts, "done", outcome=outcome, calls=calls)
        return Claim(self, ts, "won", calls=calls)

    @contextlib.contextmanager
    def claimed(self, ts: str) -> Iterator[Claim]:
        """Claim; on normal exit mark done, on exception mark failed (and re-raise); release.

        Does nothing to the message unless the claim was won: check ``claim.won``.
        """
        claim = self.claim(ts)
        with claim:
            yield claim

    def holder(self, ts: str) -> Holder | None:
        """Who holds ``ts`` and since when (one ``pins.list``), or None if it is not pinned."""
        for h, _ in self._pins():
            if h.ts == ts:
                return h
        return None

    def _pins(self) -> list[tuple[Holder, list[dict[str, Any]]]]:
        """Message pins in the channel with the reactions ``pins.list`` reports on them."""
        data, _, _ = self._api("pins.list", channel=self.channel)
        out = []
        for item in data.get("items") or []:
            msg = item.get("message") or {}
            if item.get("type", "message") != "message" or "ts" not in msg:
                continue
            h = Holder(str(item.get("created_by", "")), float(item.get("created", 0)), msg["ts"])
            out.append((h, list(msg.get("reactions") or [])))
        return out

    def stale(self, ts: str) -> Holder | None:
        """The holder of ``ts`` if its pin is older than the lease and has no outcome marker."""
        h = self.holder(ts)
        if h is None or h.age < self.lease:
            return None
        reactions, _ = self._reactions(ts)
        return h if self.markers.outcome_of(reactions) is None else None

    def stale_claims(self) -> list[Holder]:
        """Every pin in the channel older than the lease with no outcome marker (one call).

        Uses the reactions ``pins.list`` returns; ``take_over`` re-reads them anyway.
        """
        return [
            h
            for h, reactions in self._pins()
            if h.age >= self.lease and self.markers.outcome_of(reactions) is None
        ]

    def sweep(self) -> list[str]:
        """Unpin finished messages left pinned: those with an outcome marker whose pin is
        older than the lease (a holder died between marker and unpin) or, in retain
        mode, whose message is older than ``retain``. Returns the ts unpinned.

        Call it now and then (a scheduler) in retain mode; it is safe from any worker.
        """
        out = []
        for h, reactions in self._pins():
            if self.markers.outcome_of(reactions) is None:
                continue
            old = self._age(h.ts) >= self.retain if self.retain is not None else h.age >= self.lease
            if old:
                self._unpin(h.ts)
                out.append(h.ts)
        return out

    # -- take over ----------------------------------------------------------

    def _elect(self, ts: str, h: Holder) -> tuple[bool, int]:
        """Post a takeover reply; True if it is the winning one. See docs/slackmq.md."""
        me = self.user_id
        data, _, calls = self._api(
            "chat.postMessage",
            channel=self.channel,
            thread_ts=ts,
            text=_takeover_text(me, h),
        )
        mine = str(data.get("ts") or (data.get("message") or {}).get("ts"))
        replies: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"channel": self.channel, "ts": ts, "limit": 200}
            if cursor:
                params["cursor"] = cursor
            page, _, n = self._api("conversations.replies", **params)
            calls += n
            replies.extend(page.get("messages") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        winner = elect(replies, h, self.lease)
        log.info("%s takeover of %s: winner %s, mine %s", self.name, ts, winner, mine)
        return winner == mine, calls

    def take_over(self, ts: str, idempotent: bool) -> Claim:
        """Take over ``ts`` if its holder is gone (pin older than the lease, no outcome marker).

        Exactly one of the workers that try wins (``status == "won"``,
        ``taken_over`` True). The pin stays in place throughout, so fresh claimers
        still lose. If the work is not ``idempotent`` the winning claim has
        ``interrupted`` set: report it and record ``interrupted()``; do not
        re-run it. If there is no pin at all this is an ordinary ``claim``.
        A worker that finds its own pin (it restarted) need not wait for the lease.
        """
        h = self.holder(ts)
        calls = 1
        if h is None:
            c = self.claim(ts)
            c.calls += calls
            return c
        reactions, n = self._reactions(ts)
        calls += n
        outcome = self.markers.outcome_of(reactions)
        if outcome is not None:
            # It ran and its holder died (or is about to unpin): clean up the pin.
            calls += self._give_back(ts)
            self._forget(ts, outcome)
            return Claim(self, ts, "done", outcome=outcome, holder=h, calls=calls)
        with self._lock:
            held_here = ts in self._active
        restarted = h.user_id == self.user_id and not held_here
        if held_here or (not restarted and h.age < self.lease):
            return Claim(self, ts, "lost", holder=h, calls=calls)
        won, n = self._elect(ts, h)
        calls += n
        if not won:
            return Claim(self, ts, "lost", holder=h, calls=calls)
        # We won an election about ``h``; act only if ``h`` still holds the pin. A
        # taker that read ``h`` long ago (it stalled a lease) may win a late round
        # about it after the pin was released and claimed afresh.
        now = self.holder(ts)
        calls += 1
        if now != h:
            if now is None:  # released meanwhile: an ordinary claim decides
                c = self.claim(ts)
                c.calls += calls
                return c
            return Claim(self, ts, "lost", holder=now, calls=calls)
        # The holder may have finished while we were electing.
        reactions, n = self._reactions(ts)
        calls += n
        outcome = self.markers.outcome_of(reactions)
        if outcome is not None:
            calls += self._give_back(ts)
            self._forget(ts, outcome)
            return Claim(self, ts, "done", outcome=outcome, holder=h, calls=calls)
        with self._lock:
            self._active.add(ts)
        return Claim(
            self,
            ts,
            "won",
            holder=h,
            taken_over=True,
            report_only=not idempotent,
            calls=calls,
        )

    def sequence(self, ts: str) -> Sequence:
        """Use ``ts`` for a sequence: every worker runs once, one at a time."""
        return Sequence(self, ts)


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


class Sequence:
    """One message, several workers, each runs once, one at a time.

    The pin is the turn; each worker's own reaction (reactions are per user)
    records that it ran. Call ``turn()`` again when a ``pin_removed`` event
    arrives, or ``wait_turn()`` to poll with backoff.
    """

    def __init__(self, mq: SlackMQ, ts: str) -> None:
        self.mq = mq
        self.ts = ts
        self._ran: str | None = None

    def turn(self) -> Claim:
        """``won``: your turn, run now. ``done``: you already ran. ``lost``: someone else's turn."""
        mq = self.mq
        if self._ran is not None:
            return Claim(mq, self.ts, "done", outcome=self._ran)
        me = mq.user_id
        ours, calls = mq._pin(self.ts)
        if not ours:
            return Claim(mq, self.ts, "lost", calls=calls)
        reactions, n = mq._reactions(self.ts)
        calls += n
        outcome = mq.markers.outcome_of(reactions, user=me)
        if outcome is not None:
            calls += mq._unpin(self.ts)
            self._ran = outcome
            return Claim(mq, self.ts, "done", outcome=outcome, calls=calls)
        claim = Claim(mq, self.ts, "won", user=me, calls=calls)
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
            mq._unpin(self.ts)
            self._ran = outcome
            return Claim(mq, self.ts, "done", outcome=outcome)
        claim = Claim(mq, self.ts, "won", holder=h, taken_over=True, user=mq.user_id)
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
            mq._unpin(self.ts)  # it ran and died before unpinning
            return None
        won, _ = mq._elect(self.ts, h)
        if not won:
            return None
        if mq.holder(self.ts) != h:
            return None  # the turn moved on while we elected (we had read an older pin)
        mq._unpin(self.ts)
        return h
