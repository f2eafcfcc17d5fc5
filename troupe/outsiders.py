"""Pins from people and apps that are not Pis: never a claim (issue 12).

An outsider's pin on a command is removed (one ``pins.remove``), and the command is
claimed as usual. The pin is read first: another Pi may have removed it and claimed the
command meanwhile, and a Pi's pin is never removed here (the command would run twice).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from slackmq import SlackMQ, SlackMQError

log = logging.getLogger("troupe.guard")

REMEMBERED = 200  # outsiders' pins remembered (ts -> who pinned)


class OutsiderPins:
    def __init__(self, mq: SlackMQ, host: str, first_in_line: Callable[[str], bool]):
        self.mq, self.host, self.first_in_line = mq, host, first_in_line
        self._seen: OrderedDict[str, str] = OrderedDict()
        self._waited: OrderedDict[str, None] = OrderedDict()  # looked once, not first in line
        self._lock = threading.Lock()

    def note(self, ts: str, user: str | None) -> None:
        """`user`, not a Pi, pinned `ts`."""
        with self._lock:
            self._seen[ts] = user or "?"
            while len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)

    def known(self, ts: str) -> bool:
        with self._lock:
            return ts in self._seen

    def pop(self, ts: str) -> bool:
        """Forget `ts` (its pin went); whether it was an outsider's."""
        with self._lock:
            return self._seen.pop(ts, None) is not None

    def remove(self, ts: str, checked: bool = False) -> None:
        """Remove the outsider's pin on `ts`, read first (one pins.list) unless `checked`."""
        trusted = self.mq.trusted
        if not checked and trusted is not None:
            try:
                holder = self.mq.holder(ts)
            except SlackMQError as e:
                log.info("%s %s: could not read the outsider's pin: %s", self.host, ts, e)
                return  # the lease decides: the takeover path looks again
            if holder is None or trusted(holder.user_id):
                return  # gone, or a Pi's claim now
        with self._lock:
            who = self._seen.get(ts)
        log.warning("%s %s: pinned by %s, not a Pi; unpinning", self.host, ts, who)
        try:
            self.mq.client.pins_remove(channel=self.mq.channel, timestamp=ts)
        except Exception as e:  # noqa: BLE001 - no_pin: removed already; else the lease decides
            log.info("%s %s: could not remove the outsider's pin: %s", self.host, ts, e)

    def found(self, mq: SlackMQ, ts: str) -> bool:
        """Whether the pin on `ts` about to be taken over is no Pi's (pinned while no Pi
        watched: found at catch-up). The first Pi in line removes it at once, the others
        at their next look (a lease later) if it is still there: pins.remove is not
        conditional, and a second remover could remove a Pi's fresh claim. One pins.list,
        on the takeover path only."""
        trusted = mq.trusted
        if trusted is None:
            return False
        try:
            holder = mq.holder(ts)
        except SlackMQError:
            return False  # the takeover's own reads decide
        if holder is None or trusted(holder.user_id):
            return False
        self.note(ts, holder.user_id)
        with self._lock:
            first_look = ts not in self._waited
            self._waited[ts] = None
            while len(self._waited) > REMEMBERED:
                self._waited.popitem(last=False)
        if first_look and not self.first_in_line(ts):
            return True  # the first Pi in line removes it; looked at again a lease later
        self.remove(ts, checked=first_look)
        return True
