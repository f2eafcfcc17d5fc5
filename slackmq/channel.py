"""One channel seen through one Slack app: the calls and reads every part of the lock uses.

``Channel`` holds the configuration and the plumbing (Web API calls with their
retries, pins, reactions, this worker's own bookkeeping); ``SlackMQ``
(slackmq/core.py) adds the public operations on top. The claim, takeover and
sequence modules build on this class, never on ``SlackMQ``, so no module
imports one that imports it back.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient

from ._calls import MAX_BACKOFF, UNCLEAR, Caller
from .clock import SlackClock
from .errors import SlackMQConfigError, SlackMQUnavailable
from .markers import Markers

log = logging.getLogger("slackmq")

PIN_CLOCK_GRAIN = 1.0  # pins.list gives ``created`` in whole seconds


@dataclass(frozen=True)
class Holder:
    """Who pinned a message (``pins.list`` ``created_by``) and when (``created``, epoch s)."""

    user_id: str
    since: float
    ts: str
    now: Callable[[], float] = field(default=time.time, compare=False, repr=False)

    @property
    def age(self) -> float:
        """Seconds since the pin, on Slack's clock as the reader knows it (``now``; the
        local clock for a Holder made by hand), conservative: ``created`` is whole s."""
        return self.now() - self.since - PIN_CLOCK_GRAIN


PinTest = Callable[[Holder], bool]  # "is this pin the one I hold?"


class OwnPin:
    """Whether a pin is the one this process made with a ``pins.add`` first tried at
    local time ``started``: by this worker's user, and made (pins.list ``created``,
    Slack's clock, whole seconds) at or after that first try. The evidence survives
    a restart: a pin from an earlier life of the worker is older. Until Slack's
    clock is known (no answer yet) no pin counts as ours.
    """

    def __init__(self, mq: Channel, started: float) -> None:
        self.mq = mq
        self.started = started

    def __call__(self, h: Holder) -> bool:
        if h.user_id != self.mq.user_id:
            return False
        after = self.mq.clock.earliest(self.started)
        return after is not None and h.since >= math.floor(after)


class Channel:
    """The configuration and plumbing of a ``SlackMQ`` (see its docstring for the arguments)."""

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
        clock: Callable[[], float] | None = None,
        trusted: Callable[[str], bool] | None = None,
        heartbeat: bool = True,
        renew_for: float | None = None,
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
        elif client.retry_handlers:
            # slack_sdk's handlers would re-send a call whose answer was lost and hide
            # it: the lock must see every unclear answer. It uses a copy without them.
            client = copy.copy(client)
            client.retry_handlers = []
        self.client = client
        self.channel = channel
        self.lease = float(lease)
        self.deadline = float(deadline)
        self.markers = markers or Markers()
        # Whose reactions count as outcome markers (default: anyone's); e.g. only the
        # workers', so a marker from someone else never cancels a message's work.
        self.trusted = trusted
        self.name = name
        self.heartbeat = heartbeat  # won claims renew themselves every lease/3 while held
        # ... for at most this long (default 3 leases): work that hangs is taken over then.
        self.renew_for = float(renew_for) if renew_for is not None else 3 * self.lease
        self.retain = retain
        self.fresh = float(fresh)
        self.clock = SlackClock(clock or time.time)  # Slack's clock, learnt from its answers
        self._caller = Caller(client, self.deadline, name, self.clock)
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._finished: OrderedDict[str, str] = OrderedDict()
        self._voted: OrderedDict[tuple[str, str], bool] = OrderedDict()  # takeover rounds
        self._unchecked: dict[str, OwnPin] = {}  # our pins whose markers we could not read
        self._user_id: str | None = None

    # -- plumbing -----------------------------------------------------------

    @property
    def calls(self) -> int:
        """Web API round trips made so far (retries included)."""
        return self._caller.calls

    def _api(
        self, method: str, *, resend_unclear: bool = True, **params: Any
    ) -> tuple[dict[str, Any], bool, int]:
        before = self._caller.calls
        data, ambiguous = self._caller(method, resend_unclear=resend_unclear, **params)
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

    def _pin(self, ts: str) -> tuple[bool, int, Holder | None, OwnPin]:
        """pins.add: ``(ours, calls, holder, own)``.

        After an unclear answer the pins are read before anything is sent again:
        no pin -> send again; a pin that ``own`` recognises (this worker's user,
        made since the first try, not held by another thread here) -> ours;
        anything else -> lost, with ``holder`` (it may be this worker's pin from
        before a restart: the caller takes it over, it does not run it blind).
        """
        own = OwnPin(self, self.clock.local())
        end = time.monotonic() + self.deadline
        calls, unclear_seen, attempt = 0, False, 0
        while True:
            attempt += 1
            data, _, n = self._api(
                "pins.add", resend_unclear=False, channel=self.channel, timestamp=ts
            )
            calls += n
            if data.get("ok"):
                return True, calls, None, own
            unclear_seen = unclear_seen or data.get("error") == UNCLEAR
            if not unclear_seen:
                return False, calls, None, own  # already_pinned: someone else has it
            h = self.holder(ts)
            calls += 1
            if h is not None:
                with self._lock:
                    here = ts in self._active
                if not here and own(h):
                    log.info("%s pins.add %s: the answer was lost; the pin is ours", self.name, ts)
                    return True, calls, None, own
                if h.user_id == self.user_id and not here:
                    log.warning(
                        "%s pins.add %s: this worker's pin from before this attempt"
                        " (pinned at %.0f on Slack's clock): a claim from an earlier life",
                        self.name, ts, h.since,
                    )
                return False, calls, h, own
            wait = min(MAX_BACKOFF, 0.05 * 2**attempt)
            if time.monotonic() + wait >= end:
                raise SlackMQUnavailable(
                    f"pins.add: no clear answer within {self.deadline:g}s ({data.get('detail')})",
                    method="pins.add",
                    error=str(data.get("detail", "")),
                )
            time.sleep(wait)  # the unclear attempt did not pin it: send it again

    def _reactions(self, ts: str) -> tuple[list[dict[str, Any]], int]:
        data, _, n = self._api("reactions.get", channel=self.channel, timestamp=ts, full=True)
        msg = data.get("message") or {}
        return self._counted(msg.get("reactions") or []), n

    def _counted(self, reactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``reactions`` with only the ``trusted`` users' (all of them without a predicate)."""
        if self.trusted is None:
            return list(reactions)
        kept = [{**r, "users": [u for u in r.get("users", []) if self.trusted(u)]}
                for r in reactions]
        return [r for r in kept if r["users"]]

    def _unpin(self, ts: str, mine: PinTest | None = None) -> int:
        """pins.remove, never re-sent blind: after an unclear answer the pins are read,
        and the call is sent again only if the pin there is still the one ``mine``
        names (default: any pin by this worker). Another's pin (the next holder's,
        made after our unpin landed) is left alone."""
        if mine is None:
            mine = self._by_me
        end = time.monotonic() + self.deadline
        calls, attempt = 0, 0
        while True:
            attempt += 1
            data, _, n = self._api(
                "pins.remove", resend_unclear=False, channel=self.channel, timestamp=ts
            )
            calls += n
            if data.get("error") != UNCLEAR:
                return calls  # removed, or no_pin
            h = self.holder(ts)
            calls += 1
            if h is None:
                return calls  # the unclear attempt removed it
            if not mine(h):
                log.info(
                    "%s pins.remove %s: the answer was lost; the pin there now is %s's"
                    " (since %.0f), not ours: left alone", self.name, ts, h.user_id, h.since,
                )
                return calls
            wait = min(MAX_BACKOFF, 0.05 * 2**attempt)
            if time.monotonic() + wait >= end:
                raise SlackMQUnavailable(
                    f"pins.remove: no clear answer within {self.deadline:g}s"
                    f" ({data.get('detail')})",
                    method="pins.remove",
                    error=str(data.get("detail", "")),
                )
            time.sleep(wait)

    def _by_me(self, h: Holder) -> bool:
        return h.user_id == self.user_id

    def _age(self, ts: str) -> float:
        """Seconds since the message was posted, on Slack's clock (learnt from its answers)."""
        return self.clock.now() - float(ts)

    def _fast(self, ts: str) -> bool:
        """Retain mode: a message this young cannot have been unpinned after it ran."""
        return self.retain is not None and self._age(ts) < self.fresh

    def _keep(self, ts: str) -> bool:
        """Retain mode: a finished message stays pinned until it is ``retain`` old."""
        return self.retain is not None and self._age(ts) < self.retain

    def _give_back(self, ts: str, mine: PinTest | None = None) -> int:
        """Unpin a message that already ran (unless retain mode keeps it pinned)."""
        return 0 if self._keep(ts) else self._unpin(ts, mine)

    # -- pins ---------------------------------------------------------------

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
            h = Holder(
                str(item.get("created_by", "")),
                float(item.get("created", 0)),
                msg["ts"],
                self.clock.now,
            )
            out.append((h, self._counted(msg.get("reactions") or [])))
        return out
