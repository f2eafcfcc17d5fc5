"""Broadcasts this Pi ran, on disk before they run, so a restart never runs one again.

A broadcast (`debug on`, a roll call's ping) runs on every Pi; each Pi's own outcome
marker on the message says it ran there. If that marker cannot be written (Slack
answers 5xx past the client's retries) and the Pi restarts, the marker alone would
let it run the broadcast again (issue 19 case 5). So each run is recorded in
`<state_dir>/<host>.broadcasts.json` (written atomically) *before* it runs and its
outcome after; a broadcast found there is not run again, only marked. A marker that
failed is tried again in the background with a growing pause, and after a restart.
A run recorded but never finished (the process died during it) is marked
interrupted. The file keeps the last `KEEP` broadcasts (a few KB).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from troupe.files import write_atomic

log = logging.getLogger("troupe.broadcasts")

KEEP = 200  # broadcasts remembered; older ones are past max_command_age anyway
PAUSES = (2.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0)  # between tries of a failed marker

# ts -> outcome: "running" (recorded, not finished), then True/False/None (interrupted)
# while its marker is not on the message, and "marked" once it is.
Entry = str | bool | None


class BroadcastRuns:
    def __init__(self, state_dir: str | Path, host: str,
                 mark: Callable[[str, bool | None], bool]) -> None:
        """`mark(ts, ok)`: add this Pi's outcome marker (None: interrupted); True if it
        is on the message now."""
        self.path = Path(state_dir) / f"{host}.broadcasts.json"
        self.host = host
        self.mark = mark
        self._runs: OrderedDict[str, Entry] = self._load()
        self._lock = threading.Lock()
        self._retrying = False
        for ts, entry in list(self._runs.items()):
            if entry == "running":  # this Pi died while running it: it may or may not have
                self._runs[ts] = None
        if any(e != "marked" for e in self._runs.values()):
            self._retry_later()

    def run(self, ts: str, work: Callable[[], bool]) -> None:
        """Run the broadcast at `ts` unless this Pi already did; then mark it."""
        with self._lock:
            seen = ts in self._runs
            if not seen:
                self._runs[ts] = "running"
                self._save()
        if seen:
            log.info("%s %s: broadcast already run here (%s); not again", self.host, ts,
                     self.path.name)
            self._safe_mark(ts)
            return
        ok = work()
        with self._lock:
            self._runs[ts] = bool(ok)
            self._save()
        self._safe_mark(ts)

    def ran(self, ts: str) -> bool:
        with self._lock:
            return ts in self._runs

    def _mark_pending(self, ts: str) -> bool:
        with self._lock:
            entry = self._runs.get(ts, "marked")
        if entry in ("marked", "running"):
            return True
        if not self.mark(ts, entry):  # type: ignore[arg-type]
            self._retry_later()
            return False
        with self._lock:
            self._runs[ts] = "marked"
            self._save()
        return True

    def _retry_later(self) -> None:
        with self._lock:
            if self._retrying:
                return
            self._retrying = True
        threading.Thread(target=self._retry, name="broadcast-markers", daemon=True).start()

    def _retry(self) -> None:
        for pause in PAUSES:
            time.sleep(pause)  # a failed marker waits for Slack to recover, off every path
            with self._lock:
                pending = [ts for ts, e in self._runs.items() if e not in ("marked", "running")]
            if all([self._safe_mark(ts) for ts in pending]):
                break
        else:
            log.warning("%s gave up marking broadcasts after %d tries; they are still "
                        "recorded as run in %s", self.host, len(PAUSES), self.path)
        with self._lock:
            self._retrying = False

    def _safe_mark(self, ts: str) -> bool:
        try:
            return self._mark_pending(ts)
        except Exception as e:  # noqa: BLE001 - tried again at the next pause
            log.warning("%s %s: marking the broadcast failed: %s", self.host, ts, e)
            return False

    def _load(self) -> OrderedDict[str, Entry]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return OrderedDict()
        except (OSError, ValueError) as e:
            log.warning("cannot read %s (%s); starting with no broadcast records", self.path, e)
            return OrderedDict()
        runs = data.get("runs") if isinstance(data, dict) else None
        if not isinstance(runs, list):
            log.warning("%s is not a broadcast record; ignoring it", self.path)
            return OrderedDict()
        return OrderedDict((str(r[0]), r[1]) for r in runs
                           if isinstance(r, list) and len(r) == 2)

    def _save(self) -> None:
        """Atomically, under the lock; a failure is logged (the run goes on: a Pi with a
        read-only state dir still runs broadcasts, without this protection)."""
        while len(self._runs) > KEEP:
            self._runs.popitem(last=False)
        text = json.dumps({"runs": [[ts, e] for ts, e in self._runs.items()]}) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, text)
        except OSError as e:
            log.warning("%s cannot record broadcasts in %s: %s", self.host, self.path,
                        e.strerror or e)
