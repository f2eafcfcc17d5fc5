"""Slack's clock as seen from one worker, from the ``Date`` header of Slack's answers.

Every Web API answer (errors included) carries ``Date``: Slack's time in whole
seconds when it answered. A call sent at local time ``sent`` and answered at
``received`` bounds the offset (Slack's time minus ours) to
``[Date - received, Date + 1 - sent]``; the recent answers together narrow it.
The lock uses the lower bound to tell this process's pins from an earlier
life's, and callers use ``now()`` to measure ages on Slack's clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

SAMPLES = 32  # recent answers kept: a local clock that jumps (NTP) is forgotten quickly


class SlackClock:
    """Bounds on ``Slack's time - local time`` from the answers seen so far."""

    def __init__(self, local: Callable[[], float] = time.time) -> None:
        self.local = local  # this worker's wall clock (replaceable, for tests)
        self._samples: deque[tuple[float, float]] = deque(maxlen=SAMPLES)
        self._lock = threading.Lock()

    def sample(self, headers: Mapping[str, Any] | None, sent: float, received: float) -> None:
        """Learn from one answer's headers; ``sent``/``received`` by ``self.local``."""
        date = _header(headers or {}, "date")
        if not date:
            return
        try:
            slack = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        with self._lock:
            self._samples.append((slack - received, slack + 1.0 - sent))

    def bounds(self) -> tuple[float, float] | None:
        """``(lo, hi)`` with lo <= Slack - local <= hi, or None before any answer."""
        with self._lock:
            if not self._samples:
                return None
            lo = max(s[0] for s in self._samples)
            hi = min(s[1] for s in self._samples)
            if lo > hi:  # the local clock jumped: trust the newest answer only
                lo, hi = self._samples[-1]
                self._samples.clear()
                self._samples.append((lo, hi))
            return lo, hi

    def offset(self) -> float | None:
        """Slack's time minus local time, or None if unknown: the value nearest zero that
        the bounds allow, so a clock in step with Slack's (NTP) is used as it is, to the
        millisecond, and one off by minutes is corrected to within the bounds (~1 s)."""
        b = self.bounds()
        return None if b is None else min(max(0.0, b[0]), b[1])

    def now(self) -> float:
        """The time now on Slack's clock (the local clock until Slack has answered once)."""
        return self.local() + (self.offset() or 0.0)

    def surely_past(self, slack_t: float) -> bool:
        """Whether the Slack time ``slack_t`` has surely passed (by the lower bound)."""
        at_least = self.earliest(self.local())
        return at_least is not None and at_least >= slack_t

    def earliest(self, local_t: float) -> float | None:
        """The earliest Slack time the local moment ``local_t`` can have been, or None."""
        b = self.bounds()
        return None if b is None else local_t + b[0]


def _header(headers: Mapping[str, Any], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) else value)
    return ""
