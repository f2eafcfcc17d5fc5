"""Commands on the same device run in the order they came in, on whichever Pi.

After an outage the Pis find every queued command at once and claim them in
parallel: `light on` then `light off` could run the other way round. So a command
a plugin names a device for (`device_of(spec, args)`, as the lights plugin does) is
noted as it comes in (`note`, on the one thread that hands messages on), and
before it is claimed it waits until every command on that device posted before it
that this Pi knows of is finished: run here, or its claim released by the Pi that ran it (the
pin_removed every Pi sees), or dropped by this Pi (finished already, expired,
refused). Every Pi waits the same way, so no Pi claims a later one first. A command
that must wait does so on a thread of its own, never on the threads that hand
messages (and pin removals) on; and at most `limit` seconds, for a command whose end
this Pi never sees.

Claims themselves go out on threads of their own too (`CLAIMERS`): under Slack's limits a
claim waits seconds for its pins.add, and eight claims waiting on the threads that hand
messages on held everything behind them, broadcasts included (chaos --real: a Pi caught up
on 500 messages ten minutes late and missed 71 broadcasts while it was up).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from troupe.pacing import serving
from troupe.plugin import RestartRequested
from troupe.text import command_text

log = logging.getLogger("troupe.lanes")

LANE_WAIT = 60.0  # s; the longest a command waits for an earlier one on its device
REMEMBER = 5000  # messages whose lane is remembered (duplicates, early pin removals)
CLAIMERS = 16  # threads claiming at once (each mostly waits for Slack's budget)


class Lanes:
    def __init__(self, host: str, match: Callable[[str], Any],
                 restart: Callable[[str, int], None], limit: float = LANE_WAIT):
        """`match(text)`: the core's (plugin, spec, match) for a command's text, or None;
        `restart(reason, exit_code)`: a handler run on a lane's thread asked for a restart."""
        self.host = host
        self.match = match
        self.restart = restart
        self.limit = limit
        self._open: dict[str, dict[str, int]] = {}  # device -> {ts: order noted}, unfinished
        self._device: OrderedDict[str, str | None] = OrderedDict()  # ts -> device, as noted
        self._claiming: set[str] = set()
        self._deliveries: dict[str, int] = {}  # ts -> deliveries noted and not yet settled
        self._closed: OrderedDict[str, None] = OrderedDict()
        self._count = 0
        self._cond = threading.Condition()
        self._claimers = ThreadPoolExecutor(max_workers=CLAIMERS, thread_name_prefix="claim")

    def note(self, message: dict[str, Any]) -> None:
        """A message came in (called in the order messages come in; a copy is ignored)."""
        ts = message.get("ts")
        if not isinstance(ts, str):
            return
        with self._cond:
            self._deliveries[ts] = self._deliveries.get(ts, 0) + 1
            if ts in self._device:
                return  # a copy: noted already
        device = None
        try:
            found = self.match(command_text(str(message.get("text") or "")))
            if found is not None and found[1].mode == "exclusive":
                device_of = getattr(found[0], "device_of", None)
                device = device_of(found[1], found[2].args) if device_of else None
        except Exception:  # noqa: BLE001 - no lane, rather than no command
            log.exception("%s could not tell the device of %s", self.host, ts)
        with self._cond:
            self._device[ts] = device
            while len(self._device) > REMEMBER:
                self._device.popitem(last=False)
            if device and ts not in self._closed:
                self._count += 1
                self._open.setdefault(device, {})[ts] = self._count

    def in_turn(self, ts: str, claim: Callable[[], str]) -> None:
        """Claim the command at `ts` (`claim()` returns the guard's result) once every
        command on its device noted before it is finished: at once on a claiming thread when
        none is open, else on a thread of its own, so the threads that hand messages on
        (pin removals among them) never wait for a lane or a claim."""
        with self._cond:
            self._claiming.add(ts)
            waiting = bool(self._before(ts) & set(self._open.get(self._device.get(ts) or "", {})))
        if not waiting:
            try:
                self._claimers.submit(self._claim_in_turn, ts, claim)
            except RuntimeError:  # stopping: claim here, as before
                self._claimed(ts, claim())
            return
        threading.Thread(target=self._claim_in_turn, args=(ts, claim), daemon=True,
                         name="lane").start()

    def stop(self) -> None:
        """Let the claims under way finish (their handlers answer and release)."""
        self._claimers.shutdown(wait=True, cancel_futures=False)

    def _claim_in_turn(self, ts: str, claim: Callable[[], str]) -> None:
        self.wait_turn(ts)
        try:
            with serving(ts):
                self._claimed(ts, claim())
        except RestartRequested as e:
            self.restart(str(e), e.exit_code)
        except Exception:  # noqa: BLE001 - as the core's handler threads do
            log.exception("%s %s could not be claimed in its turn", self.host, ts)

    def _claimed(self, ts: str, result: str) -> None:
        if result in ("done", "expired"):  # finished, or never to run: the next may go
            self.close(ts)

    def _before(self, ts: str) -> set[str]:
        """The unfinished commands on the device of `ts` posted before it (under the lock).
        By Slack's order, not the order noted: a live copy can overtake catch-up's."""
        lane = self._open.get(self._device.get(ts) or "", {})
        return {t for t in lane if float(t) < float(ts)} if ts in lane else set()

    def wait_turn(self, ts: str) -> float:
        """The command at `ts` is about to be claimed: block until every command on its
        device noted before it is finished (or `limit` passes). Returns seconds waited."""
        started = time.monotonic()
        with self._cond:
            self._claiming.add(ts)
            device = self._device.get(ts)
            while self._before(ts):
                left = self.limit - (time.monotonic() - started)
                if left <= 0:
                    log.warning("%s %s: earlier command(s) on %s not seen to finish in %.0fs; "
                                "going on", self.host, ts, device, self.limit)
                    break
                self._cond.wait(left)
        return time.monotonic() - started

    def settled(self, ts: str) -> None:
        """A delivery of the message at `ts` was handled: once every copy is, unless it went
        on to be claimed, it is finished as far as its lane goes (a finished or expired
        command, a refusal)."""
        with self._cond:
            left = self._deliveries.pop(ts, 1) - 1
            if left > 0:  # another copy of it is still being handled: it decides
                self._deliveries[ts] = left
            elif ts not in self._claiming:
                self._close(ts)

    def close(self, ts: str) -> None:
        """The command at `ts` is finished (run here, or its pin removed)."""
        with self._cond:
            self._claiming.discard(ts)
            self._close(ts)

    def _close(self, ts: str) -> None:
        device = self._device.get(ts)
        lane = self._open.get(device or "")
        if lane is not None and lane.pop(ts, None) is not None:
            if not lane:
                del self._open[device or ""]
            self._cond.notify_all()
        elif device is None:
            self._closed[ts] = None  # its pin removed before it came in here
            while len(self._closed) > REMEMBER:
                self._closed.popitem(last=False)
