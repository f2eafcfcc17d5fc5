"""Calls that failed for a reason that passes, tried again later instead of dropped.

Under a burst a Web API call can run out of its retries (429s past Retry-After, a
5xx, a cut link). A command's answer, or the outcome marker and unpin of a claim,
must not be lost to that: the call goes into this Pi's backlog and is tried again,
oldest command first, with a growing pause, until it succeeds or its deadline (the
command's max_command_age; longer for releasing a claim) passes.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

from troupe.pacing import serving

log = logging.getLogger("troupe.backlog")

FIRST_PAUSE = 2.0
MAX_PAUSE = 30.0


class Backlog:
    """One Pi's calls to try again later (a thread of its own, started on the first one)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._items: list[tuple[float, float, int, str, Callable[[], object], float, float]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.retried = 0  # calls that went through on a later try
        self.dropped = 0  # calls whose deadline passed first

    def later(self, label: str, call: Callable[[], object], *, ts: str,
              deadline: float, pause: float = FIRST_PAUSE) -> None:
        """Try `call` again in `pause` seconds (then longer), serving the command at `ts`,
        until it returns without raising or time.time() passes `deadline`."""
        with self._cond:
            self._push(label, call, ts, deadline, pause)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="backlog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _push(self, label, call, ts, deadline, pause) -> None:
        try:
            rank = float(ts)
        except ValueError:
            rank = float("inf")
        heapq.heappush(self._items, (time.time() + pause, rank, next(self._seq), label, call,
                                     deadline, pause))

    def pending(self) -> int:
        with self._cond:
            return len(self._items)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._items or self._items[0][0] > time.time():
                    self._cond.wait(self._items[0][0] - time.time() if self._items else None)
                # Of everything due, the oldest command first.
                now = time.time()
                due = [i for i in self._items if i[0] <= now]
                item = min(due, key=lambda i: (i[1], i[2]))
                self._items.remove(item)
                heapq.heapify(self._items)
            _, rank, _, label, call, deadline, pause = item
            ts = "" if rank == float("inf") else f"{rank:.6f}"
            try:
                with serving(ts or None):
                    call()
            except Exception as e:  # noqa: BLE001 - tried again below, or given up with a log
                if time.time() + pause < deadline:
                    log.warning("%s %s failed again (%s); trying again in %.0fs", self.host,
                                label, e, min(MAX_PAUSE, pause * 2))
                    with self._cond:
                        self._push(label, call, ts, deadline, min(MAX_PAUSE, pause * 2))
                else:
                    self.dropped += 1
                    log.error("%s %s: gave up at its deadline: %s", self.host, label, e)
                continue
            self.retried += 1
            log.info("%s %s went through on a later try", self.host, label)


_backlogs: dict[str, Backlog] = {}
_backlogs_lock = threading.Lock()
RELEASE_FOR = 600.0  # s; how long a claim's outcome and unpin are tried again


def backlog_for(host: str) -> Backlog:
    """This Pi's backlog (one per process and host name)."""
    with _backlogs_lock:
        if host not in _backlogs:
            _backlogs[host] = Backlog(host)
        return _backlogs[host]


def finish_later(host: str, ts: str, label: str, record: Callable[[], object],
                 error: Exception) -> None:
    """A claim's outcome (marker, then unpin) could not be recorded now: again later, so the
    pin is released rather than left held (a claim's `done`/`failed` may be called again)."""
    log.error("%s %s %r could not record its outcome (%s); trying again later", host, ts,
              label, error)
    backlog_for(host).later(f"{ts} {label!r} outcome", record, ts=ts,
                            deadline=time.time() + RELEASE_FOR)


def on_behalf(ts: str, call: Callable[..., object], *args: object) -> object:
    """`call(*args)`, its Web API calls serving the command at `ts` (troupe.pacing)."""
    with serving(ts):
        return call(*args)
