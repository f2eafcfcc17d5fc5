"""Heartbeats: a holder renews its claim while it works.

While a won claim is held, a thread of this worker posts a reply
``slackmq-heartbeat <me> on <ts>`` in the thread of the claimed message every
``lease / 3`` (work finished sooner costs nothing). Takers measure the holder's
silence on Slack's clock from its last heartbeat (the reply's ts), not from the
pin, and the election walks heartbeats and bids in the one order Slack gives the
thread, so every taker agrees (slackmq/election.py). A reply, not an edit: an
edit changes an old message in place, so two takers reading at different times
would see different histories and could elect different winners; a reply costs
the same one call and keeps the thread append-only. docs/slackmq.md has why.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any

HEARTBEAT_TAG = "slackmq-heartbeat"

log = logging.getLogger("slackmq")


def heartbeat_text(me: str, ts: str) -> str:
    return f"{HEARTBEAT_TAG} {me} on {ts}"


class Heartbeat:
    """Renews one claim every ``lease / 3`` until ``stop()`` (a daemon thread), for at most
    ``mq.renew_for`` seconds: work that hangs (a device that never answers) is then
    taken over a lease later, like a dead holder's, and reported as not finished."""

    def __init__(self, claim: Any) -> None:
        self._claim = weakref.ref(claim)  # a claim dropped unfinished stops beating
        self._stop = threading.Event()
        self.beats = 0  # heartbeats posted
        mq = claim.mq
        self._every = mq.lease / 3
        self._until = time.monotonic() + mq.renew_for
        self._thread = threading.Thread(
            target=self._run, name=f"slackmq-heartbeat-{claim.ts}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._every) and time.monotonic() < self._until:
            claim = self._claim()
            if claim is None:
                return
            mq, ts = claim.mq, claim.ts
            del claim
            try:
                mq._api("chat.postMessage", channel=mq.channel, thread_ts=ts,
                                  text=heartbeat_text(mq.user_id, ts))
                self.beats += 1
            except Exception as e:  # noqa: BLE001 - a missed beat: takers may act after a lease
                log.warning("%s heartbeat on %s failed: %s", mq.name, ts, e)
