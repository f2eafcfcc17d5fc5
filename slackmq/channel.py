"""One channel seen through one Slack app: the calls and reads every part of the lock uses.

``Channel`` holds the configuration and the plumbing (Web API calls with their
retries, pins, reactions, this worker's own bookkeeping); ``SlackMQ``
(slackmq/core.py) adds the public operations on top. The claim, takeover and
sequence modules build on this class, never on ``SlackMQ``, so no module
imports one that imports it back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from ._calls import Caller
from .errors import SlackMQConfigError
from .markers import Markers

log = logging.getLogger("slackmq")

PIN_CLOCK_GRAIN = 1.0  # pins.list gives ``created`` in whole seconds


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
            h = Holder(str(item.get("created_by", "")), float(item.get("created", 0)), msg["ts"])
            out.append((h, list(msg.get("reactions") or [])))
        return out
