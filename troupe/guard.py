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
- preferred claims (`[troupe] preferred_claims`, on by default; see `Ranking`):
  the Pis order each message by rendezvous hashing; the k-th claims only after
  min(k, 2) windows with no pin_added seen for it. One pins.add per command
  instead of one per Pi; a dead or slow Pi only delays, never loses, a command.
  A command only some Pis can run (`Job.anywhere` False) is claimed at once. A
  Pi that cannot run a command waits those two windows longer before answering
  for the federation, so the one Pi that can is never beaten to it. A Pi holding
  its turn of a sequence (an update: it is about to restart) steps out of line
  until the turn ends, so no command waits a window for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from slackmq import SlackMQ, SlackMQError
from slackmq.core import PIN_CLOCK_GRAIN
from troupe.backlog import finish_later, on_behalf
from troupe.clock import describe_offset, local_now
from troupe.config import Config
from troupe.outsiders import OutsiderPins
from troupe.plugin import RestartRequested
from troupe.ranking import (  # noqa: F401 - PREFERRED_*: the guard's settings
    IN_LINE,
    PREFERRED_ENV,
    PREFERRED_WINDOW,
    Ranking,
    preferred_window,
)
from troupe.slack_web import make_web_client

log = logging.getLogger("troupe.guard")

RETRY_TRANSIENT_EVERY = 5.0
PIN_SETTLE = 2.0  # s; a pins.add sent just before a command expired: its pin_added comes by then
EXPIRED_FALLBACK = 20.0  # s; the next in line answers 'expired' if no Pi did in this long
DECLINED = "declined"  # what a Job's run returns when it answered but ran nothing (slackmq)


def make_lock(config: Config, channel_id: str,
              trusted: Callable[[str], bool] | None = None) -> SlackMQ:
    """The lock this Pi claims commands with: its own client without slack_sdk's retries
    (slackmq retries itself and sees every unclear answer), this Pi's clock (troupe.clock)
    and Slack's, learnt from its first answer; a Pi more than a minute off Slack's clock
    says so in its log (and in `status`)."""
    mq = SlackMQ(client=make_web_client(config, retries=False), channel=channel_id,
                 lease=config.lease, clock=local_now, name=config.host_name, trusted=trusted)
    log.debug("%s is %s on Slack", config.host_name, mq.user_id)  # one auth.test: its Date
    problem = describe_offset(mq.clock.offset())
    if problem:
        log.warning("%s: %s", config.host_name, problem)
    return mq


@dataclass
class Job:
    """A command this Pi has decided it may run."""

    ts: str
    label: str  # for logs: the command text
    run: Callable[[], bool | str]  # runs the handler (which answers): True, False or DECLINED
    idempotent: bool = False
    report_interrupted: Callable[..., None] = lambda holder, alive=False: None  # alive: renewed
    superseded: Callable[[], bool] = lambda: False  # a newer command on its device since?
    expires_at: float = float("inf")  # on Slack's clock (the message ts + max_command_age)
    source: str = "live"  # "history": found pinned on catch-up (maybe by this Pi before a
    # restart: claimed at once); "caught-up": found unpinned on catch-up
    lease: float | None = None  # this command's own lease, if longer than the default
    anywhere: bool = True  # any Pi could run it (no runs_on): preferred claims may defer it
    # Posts the 'expired' answer (with the outcome marker, no pin): the command grew older
    # than max_command_age before any Pi could claim it (Slack's limits held the claims back).
    expire: Callable[[], None] | None = None
    thread_ts: str | None = None  # the thread the command was posted in (its answers go there)
    place: int = 0  # this Pi's place in the command's claiming order (0: first; pacing)


@dataclass
class _Watch:
    job: Job
    kind: str  # "takeover" | "turn" | "blocked" | "no_taker" | "retry" | "preferred" | "expired"
    due: float
    cancelled: bool = False
    freed: bool = False  # the pin was removed (the holder finished) before the watch fired
    ahead: list[str] = field(default_factory=list)  # preferred: the Pis first in line
    armed: float = 0.0  # preferred: when this Pi started waiting
    window: float = 0.0  # preferred: the window it waits by


class Guard:
    def __init__(self, mq: SlackMQ, host: str, lease: float, *,
                 preferred: float | None = None,
                 on_restart: Callable[[RestartRequested], None] | None = None,
                 members: Callable[[], list[str]] | None = None):
        """`preferred`: the window of preferred claims in seconds (0: off; None: from
        the environment, TROUPE_PREFERRED_CLAIMS). `on_restart`: called when a handler
        run by the guard's own threads (a takeover, a turn that came free, a claim after
        waiting) asks for a restart; the claim is kept, as on the core's path."""
        self.mq = mq
        self.host = host
        self.lease = lease
        self.on_restart = on_restart
        self.window = preferred_window() if preferred is None else preferred
        self.ranking = Ranking(mq.client, mq.channel, lambda: mq.user_id, members)
        self.outsiders = OutsiderPins(mq, host, self.first_in_line)  # others' pins: no claims
        self._pins_seen: OrderedDict[str, str] = OrderedDict()  # ts -> "added" | "removed"
        self._claim_times: deque[tuple[float, float]] = deque(maxlen=200)  # (when, seconds)
        self._claiming: dict[object, float] = {}  # claims in progress: when they started
        self._pi_posts: OrderedDict[str, float] = OrderedDict()  # thread ts -> a Pi posted, when
        if self.window:  # read the members soon (not while connecting), not on a command
            warm = threading.Timer(1.0, self._warm_up)
            warm.daemon = True
            warm.start()
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
                                                    lease=job.lease, markers=self.mq.markers,
                                                    clock=self.mq.clock.local)
            return self._by_lease[job.lease]

    def _warm_up(self) -> None:
        try:
            self.ranking.order("0")
        except Exception as e:  # noqa: BLE001 - the first command tries again
            log.warning("%s could not read the federation's members yet: %s", self.host, e)

    # ---- the three modes -------------------------------------------------
    def exclusive(self, job: Job) -> str:
        """Claim and run; returns what happened: won / lost / done / error / deferred."""
        if not self.window or job.source == "history" or not job.anywhere:
            return self._claim(job)
        try:
            order = self.ranking.order(job.ts)
        except Exception as e:  # noqa: BLE001 - no order: claim at once, as without it
            log.warning("%s cannot rank the Pis (%s); claiming at once", self.host, e)
            order = []
        k = order.index(self.mq.user_id) if order else 0
        job.place = k
        window = self._window()
        delay = min(k, IN_LINE) * window
        with self._lock:
            seen = self._pins_seen.get(job.ts)  # pin events may beat the message here
            if seen is None and k:
                now = time.time()
                self._watches[job.ts] = _Watch(job, "preferred", now + delay,
                                               ahead=order[:min(k, IN_LINE)], armed=now,
                                               window=window)
        if seen == "removed":  # it ran and was released before this Pi got the message
            return "done"
        if seen == "added":  # someone holds it: watch it as a lost claim does
            self._arm(job, "takeover", self._stale_at(job))
            return "lost"
        if not k:
            result = self._claim(job)
            if result == "lost":
                try:
                    self.ranking.seen_ahead(job.ts)
                except Exception:  # noqa: BLE001 - learning only
                    log.debug("%s could not re-rank after a lost claim", self.host, exc_info=True)
            return result
        log.info("%s %s %r: number %d in line; claiming in %.1fs unless another Pi does",
                 self.host, job.ts, job.label, k + 1, delay)
        self._wake.set()
        return "deferred"

    def _window(self) -> float:
        """The preferred-claims window, stretched while this Pi's own claims are slow (rate
        limits, a slow link): the others' pins then arrive late too, and claiming in their
        place would only spend calls that the limits do not have."""
        now = time.monotonic()
        with self._lock:
            while self._claim_times and self._claim_times[0][0] < now - 60.0:
                self._claim_times.popleft()
            slowest = max([d for _, d in self._claim_times]
                          + [now - t for t in self._claiming.values()], default=0.0)
        return max(self.window, 2 * slowest)

    def _claim(self, job: Job, withdraw: bool = True) -> str:
        """Claim `job` and run it if won. Under Slack's limits the pins.add waits its turn
        in this Pi's pacer; it is withdrawn, no call spent, if meanwhile another Pi pinned
        the command or it grew older than max_command_age (`withdraw` False: claim anyway,
        e.g. to resume this Pi's own pin)."""
        started = time.monotonic()
        key = object()
        pacer = getattr(self.mq.client, "pacer", None)  # troupe.pacing, shared by every lock
        withdraw = withdraw and job.source != "history" and pacer is not None
        with self._lock:
            self._claiming[key] = started
        try:
            try:
                if withdraw and not pacer.reserve("pins.add", lambda: self._wanted(job), job.ts,
                                                  job.place):
                    return self._withdrawn(job)
                claim = self._mq(job).claim(job.ts)
            finally:
                if withdraw:
                    pacer.unreserve()  # the reserved token, if the claim never spent it
                with self._lock:
                    del self._claiming[key]
                    self._claim_times.append((time.monotonic(), time.monotonic() - started))
        except SlackMQError as e:
            log.error("%s %s %r could not claim: %s; retrying in %.0fs",
                      self.host, job.ts, job.label, e, RETRY_TRANSIENT_EVERY)
            self._arm(job, "retry", time.time() + RETRY_TRANSIENT_EVERY)
            return "error"
        if claim.status == "lost":
            # Not asking who holds it (a pins.list) keeps a lost claim at one call, except on
            # catch-up, where the holder may be this Pi before a restart: then go on at once.
            log.info("%s %s %r lost to another Pi", self.host, job.ts, job.label)
            self._arm(job, "takeover", self._lost_due(job, claim.holder_seen))
            return "lost"
        if claim.status == "done":
            log.info("%s %s %r already %s", self.host, job.ts, job.label, claim.outcome or "done")
            return "done"
        log.info("%s %s %r claimed in %.0f ms", self.host, job.ts, job.label,
                 (time.monotonic() - started) * 1000)
        self._run_claimed(job, claim)
        return "won"

    def _wanted(self, job: Job) -> bool:
        """Whether a claim waiting for Slack's budget is still worth its pins.add: no Pi
        pinned the command since, and it is not past max_command_age. (The pacer asks this
        under its own lock: read without the guard's.)"""
        return self._pins_seen.get(job.ts) is None and self.mq.clock.now() <= job.expires_at

    def _withdrawn(self, job: Job) -> str:
        seen = self._pins_seen.get(job.ts)
        if seen == "removed":
            log.info("%s %s %r finished by another Pi while this claim waited", self.host,
                     job.ts, job.label)
            return "done"
        if seen == "added":  # watched as a lost claim is
            log.info("%s %s %r claimed by another Pi while this claim waited", self.host,
                     job.ts, job.label)
            self._arm(job, "takeover", self._stale_at(job))
            return "lost"
        self.expire(job)
        return "expired"

    def expire(self, job: Job) -> None:
        """`job` grew older than max_command_age with no Pi's pin on it: not run; one Pi says
        so, with the outcome marker and no pin (pins.add is the scarcest budget, Tier 2): the
        first in line once a pins.add sent just before could have shown (PIN_SETTLE), the
        next ones EXPIRED_FALLBACK later each, only if no Pi posted in its thread by then."""
        if job.expire is None:
            log.warning("%s %s %r gave up: older than max_command_age", self.host, job.ts,
                        job.label)
            return
        try:
            order = self.ranking.order(job.ts)
        except Exception:  # noqa: BLE001 - no order: answer as if first
            order = []
        k = order.index(self.mq.user_id) if self.mq.user_id in order else 0
        log.info("%s %s %r expired before any Pi could claim it; number %d to answer",
                 self.host, job.ts, job.label, k + 1)
        self._arm(job, "expired", time.time() + PIN_SETTLE + min(k, IN_LINE) * EXPIRED_FALLBACK)

    def pi_posted(self, thread_ts: str) -> None:
        """A Pi posted in the thread of `thread_ts` (an answer, most likely)."""
        with self._lock:
            self._pi_posts[thread_ts] = time.time()
            self._pi_posts.move_to_end(thread_ts)
            while len(self._pi_posts) > 2000:
                self._pi_posts.popitem(last=False)

    def _answered(self, job: Job) -> bool:
        """Whether a Pi answered `job`, as far as this Pi saw: a Pi posted in its thread (for
        a command in a thread: in that thread since the command expired)."""
        with self._lock:
            posted = self._pi_posts.get(job.thread_ts or job.ts)
        if posted is None or not job.thread_ts:
            return posted is not None
        return posted >= job.expires_at - (self.mq.clock.now() - time.time()) - 1.0

    def sequential(self, job: Job) -> str:
        """Take this Pi's turn now if free; else wait for the pin to go, or, behind a turn still
        open whose pin someone removed, look again a lease after its last sign. On catch-up the
        turn may be this Pi's own from before a restart (an update restarts mid-turn): resumed,
        so this claim alone gives it back (a second unpin could remove the next Pi's pin)."""
        sequence = self._mq(job).sequence(job.ts)
        try:
            claim = sequence.resume() if job.source == "history" else sequence.turn()
        except SlackMQError as e:
            log.error("%s %s %r could not take a turn: %s", self.host, job.ts, job.label, e)
            self._arm(job, "turn", time.time() + RETRY_TRANSIENT_EVERY)
            return "error"
        if claim.status == "done":
            log.info("%s %s %r: this Pi's turn is already done", self.host, job.ts, job.label)
            return "done"
        if claim.status == "lost":
            log.info("%s %s %r waiting for its turn", self.host, job.ts, job.label)
            behind = claim.look_again  # Slack's clock; pin_removed never wakes "blocked"
            self._arm(job, "turn" if behind is None else "blocked", self._stale_at(job)
                      if behind is None else time.time() + behind - self._mq(job).clock.now())
            return "lost"
        log.info("%s %s %r: this Pi's turn%s", self.host, job.ts, job.label,
                 " (resumed after a restart)" if claim.taken_over else "")
        self._run_claimed(job, claim)
        return "won"

    def when_nobody_claims(self, job: Job, wait: float) -> None:
        """This Pi cannot run `job`; if no Pi claims it within `wait`, answer for the federation.

        With preferred claims the Pi that can run it may be waiting its turn: wait that
        much longer."""
        if self.window:
            wait += IN_LINE * self._window()
        self._arm(job, "no_taker", time.time() + wait)

    def _stale_at(self, job: Job, since: float | None = None) -> float:
        """When a pin made at `since` (default: now, when this Pi saw it) is surely older
        than the lease to slackmq: pins.list gives `created` in whole seconds, so slackmq
        counts a pin as up to PIN_CLOCK_GRAIN younger. A watch that fired at the bare lease
        would spend a pins.list and a reactions.get to learn it is too early."""
        return (time.time() if since is None else since) + PIN_CLOCK_GRAIN + (
            job.lease or self.lease)

    def _lost_due(self, job: Job, seen=None) -> float:
        """When to look at a lost claim again: at once if the pin is this Pi's from before a
        restart (`seen`: the pin the claim already read, e.g. after an unclear answer)."""
        if seen is not None or job.source == "history":
            holder = seen or self._mq(job).holder(job.ts)
            if holder is not None and holder.user_id == self.mq.user_id:
                log.info("%s %s %r: this Pi held it before restarting", self.host, job.ts,
                         job.label)
                return 0.0
        return self._stale_at(job)

    # ---- events from the transport --------------------------------------
    def pin_added(self, ts: str, user: str | None = None, turn: bool = False) -> None:
        """`user` pinned `ts`; `turn`: its turn of a sequential command (it steps out of
        line until the pin is removed)."""
        if user:
            self.ranking.alive(user)
            if turn:
                self.ranking.away(user, ts)
        with self._lock:
            self._seen_pin(ts, "added")
            watch = self._watches.get(ts)
            if watch and watch.kind == "no_taker":
                watch.cancelled = True
                del self._watches[ts]
            elif watch and watch.kind == "preferred":  # claimed by a Pi before this one
                job = watch.job
                if user in watch.ahead:  # the Pis before the claimer let their turn pass
                    self.ranking.suspect(watch.ahead[:watch.ahead.index(user)])
                elif not user and watch.window == self.window:
                    # Not slowed down, and the pin came j windows late: the first j in line
                    # let their turn pass (a live first Pi pins within one round trip).
                    late = int((time.time() - watch.armed) / watch.window)
                    self.ranking.suspect(watch.ahead[:late])
                self._watches[ts] = _Watch(job, "takeover", self._stale_at(job))

    def first_in_line(self, ts: str, suspects: bool = False) -> bool:
        """Whether this Pi is first in the claiming order of `ts` (`suspects`: the full one)."""
        return self.ranking.order(ts, suspects)[0] == self.mq.user_id

    def outsider_pin(self, ts: str, user: str | None) -> None:
        """Someone not a Pi pinned `ts`: never a claim. The first Pi in line removes the pin
        (troupe.outsiders); its removal frees the command for the Pis to claim as usual."""
        self.outsiders.note(ts, user)
        if self.first_in_line(ts):
            self.outsiders.remove(ts)

    def pin_removed(self, ts: str) -> None:
        self.ranking.back(ts)
        with self._lock:
            if self.outsiders.pop(ts):  # an outsider's pin went: claim now
                watch = self._watches.get(ts)
                if watch and watch.kind == "takeover":
                    self._watches[ts] = _Watch(watch.job, "retry", 0.0)
                    self._wake.set()
                return
            self._seen_pin(ts, "removed")
            watch = self._watches.get(ts)
            if not watch:
                return
            if watch.kind in ("takeover", "preferred"):
                del self._watches[ts]  # the holder finished and released
                return
            if watch.kind == "turn":
                watch.due, watch.freed = 0, True  # the next turn is free: try now
        self._wake.set()

    # ---- internals -------------------------------------------------------
    def _seen_pin(self, ts: str, what: str) -> None:
        """Remember recent pin events (under the lock): they may beat the message here."""
        if self._pins_seen.get(ts) != "removed":
            self._pins_seen[ts] = what
        while len(self._pins_seen) > 2000:
            self._pins_seen.popitem(last=False)

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

    def _finish(self, job: Job, claim, ok: bool | str, started: float) -> None:
        outcome = DECLINED if ok == DECLINED else "done" if ok else "failed"
        try:
            {"done": claim.done, "failed": claim.failed, DECLINED: claim.declined}[outcome]()
        except SlackMQError as e:  # tried again later (troupe.backlog): the pin is released
            finish_later(self.host, job.ts, job.label, getattr(claim, outcome), e)
        log.info("%s %s %r %s in %.0f ms", self.host, job.ts, job.label, outcome,
                 (time.monotonic() - started) * 1000)

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
            for watch in sorted(due, key=lambda w: float(w.job.ts)):  # oldest first
                try:
                    on_behalf(watch.job.ts, self._fire, watch)  # its calls: oldest first
                except RestartRequested as e:
                    self._restart(e)
                except Exception:  # noqa: BLE001 - one bad watch must not stop the others
                    log.exception("%s %s watch failed", self.host, watch.job.ts)
            self._wake.wait(max(0.0, min(next_due - time.time(), 5.0)))
            self._wake.clear()

    def _fire(self, watch: _Watch) -> None:
        job = watch.job
        expired = self.mq.clock.now() > job.expires_at  # expires_at is on Slack's clock
        if watch.kind == "expired":
            if self._pins_seen.get(job.ts) is None and not self._answered(job):
                job.expire()
            return
        if expired and watch.kind in ("retry", "no_taker", "preferred"):
            if self._pins_seen.get(job.ts) is None:
                self.expire(job)
            return
        if watch.kind == "preferred":  # off the watch thread: claims and handlers take time
            threading.Thread(target=self._claim_after_wait, args=(watch,), daemon=True,
                             name="preferred-claim").start()
        elif watch.kind in ("retry", "no_taker"):
            with self._lock:
                seen = self._pins_seen.get(job.ts) if self.window else None
            # This Pi's own pin, whose markers an outage kept it from reading: claim again.
            resume = watch.kind == "retry" and self._mq(job).resumable(job.ts)
            if seen == "added" and watch.kind == "retry" and not resume:
                self._arm(job, "takeover", self._stale_at(job))  # claimed meanwhile: watch it
            elif seen is None or resume:  # removed: it ran and was released
                self._claim(job, withdraw=not resume)
        elif watch.kind in ("turn", "blocked"):
            if not watch.freed:  # the lease ran out with the turn still held
                self._free_stale_turn(job)
            self.sequential(job)
        elif watch.kind == "takeover":
            self._take_over(job)

    def _restart(self, request: RestartRequested) -> None:
        """A handler on a guard thread asked for a restart: hand it to the bot."""
        if self.on_restart is None:
            log.error("%s a handler asked for a restart (%s), but nothing here can restart",
                      self.host, request)
            return
        self.on_restart(request)

    def _claim_after_wait(self, watch: _Watch) -> None:
        job = watch.job
        log.info("%s %s %r: no other claim %.1fs after the message; claiming", self.host,
                 job.ts, job.label, time.time() - float(job.ts))
        try:
            if on_behalf(job.ts, self._claim, job) == "won" and self._window() == self.window:
                self.ranking.suspect(watch.ahead)  # first in line, did not claim, not slowed
        except RestartRequested as e:
            self._restart(e)
        except Exception:  # noqa: BLE001 - as in the watch loop
            log.exception("%s %s preferred claim failed", self.host, job.ts)

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
        if self.outsiders.known(job.ts) and not self.first_in_line(job.ts):
            self.outsiders.remove(job.ts)  # the first Pi in line did not: this one does
            self._arm(job, "retry", time.time() + RETRY_TRANSIENT_EVERY)
            return
        with self._lock:  # a pin seen added by a Pi is a Pi's: no look to spend on it
            by_a_pi = self._pins_seen.get(job.ts) == "added"
        if not by_a_pi and self.outsiders.found(self._mq(job), job.ts):  # while none watched
            self._arm(job, "takeover", self._stale_at(job))  # claimed once the pin is gone
            return
        try:
            claim = self._mq(job).take_over(job.ts, idempotent=job.idempotent)
        except SlackMQError as e:
            log.error("%s %s %r takeover failed: %s", self.host, job.ts, job.label, e)
            self._arm(job, "takeover", time.time() + RETRY_TRANSIENT_EVERY)
            return
        if claim.status == "lost":
            holder = claim.holder
            if holder is not None:  # still held (alive, or another taker won): watch again
                # Already stale: another taker won this round (slackmq posts one reply a
                # round); a next round starts a lease after its reply, if it dies too.
                due = self._stale_at(job, max(holder.since, claim.holder_renewed or 0))
                self._arm(job, "takeover", due if due > time.time() else self._stale_at(job))
            return
        if claim.status == "done":
            return
        previous = claim.holder.user_id if claim.holder else None
        log.warning("%s %s %r taken over from %s", self.host, job.ts, job.label, previous)
        if claim.report_only or job.superseded():  # never undo a newer command (troupe.devices)
            try:
                job.report_interrupted(previous, claim.holder_renewed is not None)
            finally:
                claim.mark_interrupted()
            return
        self._run_claimed(job, claim)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
