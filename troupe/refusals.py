"""Refusing someone not allowed, at most one Web API call a message and none in a flood.

No pin, no marker: exactly one Pi answers, the first in the agreed claiming order for
the message (troupe.guard's Ranking), with one ephemeral message; past PER_MINUTE
refusals in a minute to the same person, this Pi says nothing more to them (it logs it
once) until the minute has passed. A refusal lost with a dead Pi costs nothing: nothing
ran.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger("troupe.refusals")

PER_MINUTE = 3


class Refusals:
    def __init__(self, web: WebClient, host: str, first_in_line: Callable[[str], bool],
                 per_minute: int = PER_MINUTE, settle: Callable[[], None] = lambda: None):
        self.web, self.host, self.first_in_line = web, host, first_in_line
        self.settle = settle  # know every Pi before choosing the one that refuses
        self.per_minute = per_minute
        self._recent: dict[str, deque[float]] = {}
        self._quiet: set[str] = set()
        self._lock = threading.Lock()

    def refuse(self, channel: str, ts: str, user: str, text: str, quote: str) -> bool:
        """Answer `user` privately with `text` if this Pi is the one to; whether it did."""
        try:
            self.settle()
            if not self.first_in_line(ts):
                return False
        except Exception as e:  # noqa: BLE001 - no order known: another Pi may answer
            log.warning("%s cannot tell which Pi refuses %s (%s); refusing", self.host, ts, e)
        now = time.monotonic()
        with self._lock:
            recent = self._recent.setdefault(user, deque())
            while recent and recent[0] < now - 60.0:
                recent.popleft()
            if len(recent) >= self.per_minute:
                if user not in self._quiet:
                    self._quiet.add(user)
                    log.warning("%s %s: %s was refused %d times within a minute; not answering "
                                "them for now", self.host, ts, user, self.per_minute)
                return False
            self._quiet.discard(user)
            recent.append(now)
            if len(self._recent) > 1000:  # forget the oldest people
                self._recent.pop(next(iter(self._recent)))
        log.warning("%s %s refused %r from %s", self.host, ts, quote, user)
        try:
            self.web.chat_postEphemeral(channel=channel, user=user, text=text)
        except SlackApiError as e:
            log.warning("%s %s could not refuse %s: %s", self.host, ts, user,
                        e.response.get("error"))
        return True
