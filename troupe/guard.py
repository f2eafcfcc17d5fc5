"""How a command may run, built on slackmq.

- exclusive: one Pi runs it. Each Pi claims the message (a pin); the winner
  runs, marks the outcome, releases. A loser keeps a watch on the claim: if the
  pin is not released within the lease (the holder died), it tries a takeover;
  a non-idempotent command is then reported as interrupted, not re-run.
- broadcast: every Pi runs it once (no lock; duplicates are dropped by the core).
- sequential: every Pi runs it once, one at a time: a Pi that loses the turn
  tries again when it sees the pin removed.
- when this Pi cannot run an exclusive command (no such device here, or
  another Pi is targeted), it waits a short while for a Pi that can; if none
  claimed the message by then, it claims it to give the one clear answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from slackmq import SlackMQ, SlackMQError
from troupe.plugin import RestartRequested

log = logging.getLogger("troupe.guard")

RETRY_TRANSIENT_EVERY = 5.0


@dataclass
class Job:
    """A command this Pi has decided it may run."""

    ts: str
    label: str  # for logs: the command text
    run: Callable[[], bool]  # runs the handler (which answers); True if it succeeded
    idempotent: bool = False
    report_interrupted: Callable[[str | None], None] = lambda holder: None
    expires_at: float = float("inf")
    source: str = "live"  # "history": found on catch-up; this Pi may have held it before a restart
    lease: float | None = None  # this command's own lease, if longer than the default


@dataclass
class _Watch:
    job: Job
    kind: str  # "takeover" | "turn" | "no_taker" | "retry"
    due: float
    cancelled: bool = False
    freed: bool = False  # the pin was removed (the holder finished) before the watch fired


class Guard:
    def __init__(self, mq: SlackMQ, host: str, lease: float):
        self.mq = mq
        self.host = host
        self.lease = lease
        self._watches: dict[str, _Watch] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._in_flight: dict[str, Job] = {}
        self._by_lease: dict[float, SlackMQ] = {}
        self._thread = threading.Thread(target=self._watch_loop, name="guard-watch", daemon=True)
        self._thread.start()

    def _mq(self, job: Job) -> SlackMQ:
        """The lock with this job's lease (every Pi uses the same lease for the same command)."""
        if not job.lease or job.lease == self.lease:
            return self.mq
        with self._lock:
            if job.lease not in self._by_lease:
                self._by_lease[job.lease] = SlackMQ(client=self.mq.client, channel=self.mq.channel,
                                                    lease=job.lease, markers=self.mq.markers)
            return self._by_lease[job.lease]

    # ---- the three modes -------------------------------------------------
    def exclusive(self, job: Job) -> str:
        """Claim and run; returns what happened: won / lost / done / error."""
        started = time.monotonic()
        try:
            claim = self._mq(job).claim(job.ts)
        except SlackMQError as e:
            log.error("%s %s %r could not claim: %s; retrying in %.0fs",
                      self.host, job.ts, job.label, e, RETRY_TRANSIENT_EVERY)
            self._arm(job, "retry", time.time() + RETRY_TRANSIENT_EVERY)
            return "error"
        if claim.status == "lost":
            # Not asking who holds it (a pins.list) keeps a lost claim at one call, except on
            # catch-up, where the holder may be this Pi before a restart: then go on at once.
            log.info("%s %s %r lost to another Pi", self.host, job.ts, job.label)
            self._arm(job, "takeover", self._lost_due(job))
            return "lost"
        if claim.status == "done":
            log.info("%s %s %r already %s", self.host, job.ts, job.label, claim.outcome or "done")
            return "done"
        log.info("%s %s %r claimed in %.0f ms", self.host, job.ts, job.label,
                 (time.monotonic() - started) * 1000)
        self._run_claimed(job, claim)
        return "won"

    def sequential(self, job: Job) -> str:
        """Take this Pi's turn now if free; otherwise wait for the pin to be released."""
        try:
            claim = self._mq(job).sequence(job.ts).turn()
        except SlackMQError as e:
            log.error("%s %s %r could not take a turn: %s", self.host, job.ts, job.label, e)
            self._arm(job, "turn", time.time() + RETRY_TRANSIENT_EVERY)
            return "error"
        if claim.status == "done":
            log.info("%s %s %r: this Pi's turn is already done", self.host, job.ts, job.label)
            return "done"
        if claim.status == "lost":
            log.info("%s %s %r waiting for its turn", self.host, job.ts, job.label)
            self._arm(job, "turn", self._lost_due(job))
            return "lost"
        log.info("%s %s %r: this Pi's turn", self.host, job.ts, job.label)
        self._run_claimed(job, claim)
        return "won"

    def when_nobody_claims(self, job: Job, wait: float) -> None:
        """This Pi cannot run `job`; if no Pi claims it within `wait`, answer for the federation."""
        self._arm(job, "no_taker", time.time() + wait)

    def _lost_due(self, job: Job) -> float:
        if job.source == "history":
            holder = self._mq(job).holder(job.ts)
            if holder is not None and holder.user_id == self.mq.user_id:
                log.info("%s %s %r: this Pi held it before restarting", self.host, job.ts,
                         job.label)
                return 0.0
        return time.time() + (job.lease or self.lease)

    # ---- events from the transport --------------------------------------
    def pin_added(self, ts: str) -> None:
        with self._lock:
            watch = self._watches.get(ts)
            if watch and watch.kind == "no_taker":
                watch.cancelled = True
                del self._watches[ts]

    def pin_removed(self, ts: str) -> None:
        with self._lock:
            watch = self._watches.get(ts)
            if not watch:
                return
            if watch.kind == "takeover":
                del self._watches[ts]  # the holder finished and released
                return
            if watch.kind == "turn":
                watch.due, watch.freed = 0, True  # the next turn is free: try now
        self._wake.set()

    # ---- internals -------------------------------------------------------
    def _run_claimed(self, job: Job, claim) -> None:
        started = time.monotonic()
        self._in_flight[job.ts] = job
        try:
            ok = job.run()
        except RestartRequested:
            # The claim stays held: the restarted process finds its pin and finishes.
            log.info("%s %s %r: restarting with the claim held", self.host, job.ts, job.label)
            raise
        except BaseException:
            self._finish(job, claim, False, started)
            raise
        finally:
            self._in_flight.pop(job.ts, None)
        self._finish(job, claim, ok, started)

    def _finish(self, job: Job, claim, ok: bool, started: float) -> None:
        try:
            if ok:
                claim.done()
            else:
                claim.failed()
        except SlackMQError as e:
            log.error("%s %s %r could not record its outcome: %s", self.host, job.ts, job.label, e)
        log.info("%s %s %r %s in %.0f ms", self.host, job.ts, job.label,
                 "done" if ok else "failed", (time.monotonic() - started) * 1000)

    def in_flight(self) -> list[str]:
        return [job.label for job in list(self._in_flight.values())]

    def _arm(self, job: Job, kind: str, due: float) -> None:
        with self._lock:
            self._watches[job.ts] = _Watch(job, kind, due)
        self._wake.set()

    def _watch_loop(self) -> None:
        while not self._stopping:
            now = time.time()
            with self._lock:
                due = [w for w in self._watches.values() if w.due <= now and not w.cancelled]
                for w in due:
                    del self._watches[w.job.ts]
                next_due = min((w.due for w in self._watches.values()), default=now + 5.0)
            for watch in due:
                try:
                    self._fire(watch)
                except Exception:  # noqa: BLE001 - one bad watch must not stop the others
                    log.exception("%s %s watch failed", self.host, watch.job.ts)
            self._wake.wait(max(0.0, min(next_due - time.time(), 5.0)))
            self._wake.clear()

    def _fire(self, watch: _Watch) -> None:
        job = watch.job
        if time.time() > job.expires_at and watch.kind in ("retry", "no_taker"):
            log.warning("%s %s %r gave up: older than max_command_age", self.host, job.ts,
                        job.label)
            return
        if watch.kind in ("retry", "no_taker"):
            self.exclusive(job)
        elif watch.kind == "turn":
            if not watch.freed:  # the lease ran out with the turn still held
                self._free_stale_turn(job)
            self.sequential(job)
        elif watch.kind == "takeover":
            self._take_over(job)

    def _free_stale_turn(self, job: Job) -> None:
        try:
            holder = self._mq(job).sequence(job.ts).take_over()
        except SlackMQError as e:
            log.error("%s %s %r could not free a stale turn: %s", self.host, job.ts, job.label, e)
            return
        if holder is not None:
            log.warning("%s %s %r: %s stopped answering during its turn; going on", self.host,
                        job.ts, job.label, holder.user_id)
            if holder.user_id != self.mq.user_id:
                job.report_interrupted(holder.user_id)

    def _take_over(self, job: Job) -> None:
        try:
            claim = self._mq(job).take_over(job.ts, idempotent=job.idempotent)
        except SlackMQError as e:
            log.error("%s %s %r takeover failed: %s", self.host, job.ts, job.label, e)
            self._arm(job, "takeover", time.time() + RETRY_TRANSIENT_EVERY)
            return
        if claim.status == "lost":
            holder = claim.holder
            if holder is not None:  # still held (alive, or another taker won): watch again
                due = holder.since + (job.lease or self.lease)
                self._arm(job, "takeover", max(due, time.time() + 1.0))
            return
        if claim.status == "done":
            return
        previous = claim.holder.user_id if claim.holder else None
        log.warning("%s %s %r taken over from %s", self.host, job.ts, job.label, previous)
        if claim.report_only:
            try:
                job.report_interrupted(previous)
            finally:
                claim.mark_interrupted()
            return
        self._run_claimed(job, claim)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
