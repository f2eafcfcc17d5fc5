"""Pacing a Pi's Web API calls by method, so Slack's limits are known before they are hit.

Slack limits each app per method (Tier 2 about 20 calls a minute, Tier 3 about 50,
chat.postMessage about one a second per channel). A Pi that finds those limits by
429s loses a round trip per 429 and, under a burst, runs its calls out of retries.
So each Pi keeps one `Pacer` (shared by every WebClient made with its token: the
bot's and the lock's): a token bucket per method, seeded from Slack's documented
tiers and tightened by every Retry-After Slack still answers. A call waits for its
token before it is sent; nothing waits on the success path while the budget lasts.

Waiting calls go out oldest work first: a thread says which command it serves
(`serving(ts)`), and among the calls waiting for the same method the one serving
the oldest command takes the next token (calls serving no command come last).
Work in hand before new work: a claim (pins.add) waits while answers, outcome
markers or unpins are waiting for their tokens, and while the claims in hand (pinned,
not yet unpinned) would take longer than half the lease to finish at the pace of
the scarcest of those methods: a Pi never claims more than it can finish within
its lease (a holder past its lease is taken over). Those waits give way after
CLAIM_HOLD (a steady stream of broadcast markers must not starve the claims); one
never does: a claim held past lease / 3 posts a heartbeat every lease / 3, so the
claims in hand stay within what half the posting budget can keep alive. Past that,
heartbeats took every post, answers waited minutes, claims stayed held longer and
posted more heartbeats (chaos --real: commands "done in 220 s" after their claim).

A claim is reserved before it is made (`reserve`): it waits for its pins.add token with a
question, "still wanted?", asked while it waits. A claim whose command another Pi pinned
meanwhile, or that grew older than max_command_age, leaves the queue without spending
the call (the burst bench: 165 of 461 claims were of commands already finished).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

# Slack's documented tiers (calls a minute, burst), by method. Unlisted methods: Tier 3.
TIERS: dict[str, tuple[float, float]] = {
    "1": (1, 2), "2": (20, 20), "3": (50, 50), "4": (100, 100),
    "post": (60, 4),  # chat.postMessage: about one a second per channel, short bursts
}
METHOD_TIERS: dict[str, str] = {
    "apps.connections.open": "1", "auth.test": "4", "chat.postMessage": "post",
    "chat.postEphemeral": "post", "conversations.list": "2", "conversations.members": "4",
    "pins.add": "2", "pins.remove": "2", "pins.list": "2", "reactions.remove": "2",
    "users.info": "4", "users.list": "2",
}
UNPACED = 1e9  # calls a second and burst of a method no limit is known for
MARGIN = 0.95  # stay this far under the documented rate (clocks and latency differ)
TIGHTEN = 0.8  # a 429 despite pacing: this method's rate times this from now on
FLOOR = 0.2  # ... but never below this share of the documented rate
RECOVER = 0.1  # a minute after its last 429, a method regains this share of its rate a minute
# A holder's heartbeat (slackmq/heartbeat.py: a thread of this name) keeps its claim
# alive: it goes before everything else, or a holder held back would be taken over.
URGENT_THREADS = ("slackmq-heartbeat-",)
CLAIMS = "pins.add"
CLAIM_HOLD = 60.0  # s; the longest a claim waits for answers and markers to go out first
HELD_FOR = 2.0  # leases; a claim counted in hand longer than this is forgotten (a count
# that drifted, e.g. a pin another Pi took over and removed, must not stop the claims)
FINISHING = ("chat.postMessage", "reactions.add", "pins.remove")  # answers, markers, unpins
WAITED_NOTE = 10.0  # s; a command held back longer than this says so in its answer
ASK_EVERY = 0.5  # s; how often a reserved claim asks whether it is still wanted

_local = threading.local()


@contextlib.contextmanager
def serving(ts: str | None) -> Iterator[None]:
    """Calls made by this thread inside the block serve the command posted at `ts`."""
    before = getattr(_local, "ts", None)
    _local.ts = ts if isinstance(ts, str) else before
    try:
        yield
    finally:
        _local.ts = before


def served() -> str | None:
    """The ts of the command this thread's calls serve, if any."""
    return getattr(_local, "ts", None)


_last_held = [0.0]  # wall time of the last call that had to wait for its token


@dataclass
class _Bucket:
    rate: float  # tokens a second
    capacity: float
    tokens: float
    stamp: float
    floor: float
    hold_until: float = 0.0
    base: float = 0.0  # the documented rate; a 429 lowers `rate`, quiet minutes restore it
    limited_at: float = float("-inf")

    def refill(self, now: float) -> None:
        elapsed = now - self.stamp
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        if self.rate < self.base and now - self.limited_at > 60.0:
            self.rate = min(self.base, self.rate + self.base * RECOVER * elapsed / 60.0)
        self.stamp = now

    def wait_for(self, now: float) -> float:
        """Seconds until a token is free (0: now)."""
        self.refill(now)
        if now < self.hold_until:
            return self.hold_until - now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class Pacer:
    """A token bucket per Web API method, oldest command first among the waiters."""

    def __init__(self, tiers: dict[str, tuple[float, float]] | None = None,
                 methods: dict[str, str] | None = None, margin: float = MARGIN,
                 lease: float = 30.0, seeded: bool = True) -> None:
        self.lease = lease  # the lock's lease: claims in hand must finish well within it
        # seeded: Slack's documented tiers from the first call. Unseeded (an endpoint without
        # Slack's limits, `[slack] rate_limits = "none"`): no pace; a 429 holds its method
        # for Retry-After only. (Adopting the tiers on the first 429 made an emulator with
        # injected 429s crawl: make chaos missed 183 broadcasts, work handled a minute late.)
        self.seeded = seeded
        self._held: list[float] = []  # when each claim in hand was made (see `in_hand`)
        self.tiers = tiers or TIERS
        self.methods = METHOD_TIERS if methods is None else methods
        self.margin = margin
        self._buckets: dict[str, _Bucket] = {}
        self._waiting: dict[str, list[tuple[tuple[int, float], int]]] = {}
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self.waited = 0.0  # seconds spent waiting, all calls together (status, bench)
        self.limited = 0  # 429s seen despite pacing

    def _bucket(self, method: str, now: float) -> _Bucket:
        bucket = self._buckets.get(method)
        if bucket is None:
            per_minute, burst = self.tiers[self.methods.get(method, "3")]
            rate = per_minute / 60.0 * self.margin
            if not self.seeded:
                rate, burst = UNPACED, UNPACED
            bucket = self._buckets[method] = _Bucket(rate, burst, burst, now, rate * FLOOR,
                                                     base=rate)
        return bucket

    @property
    def in_hand(self) -> int:
        """Claims pinned and not yet unpinned (pins.add less pins.remove), forgetting any
        older than HELD_FOR leases."""
        cutoff = time.monotonic() - HELD_FOR * self.lease
        while self._held and self._held[0] < cutoff:
            self._held.pop(0)
        return len(self._held)

    def reserve(self, method: str, wanted: Callable[[], bool], ts: str | None = None,
                place: int = 0) -> bool:
        """Wait for a token for `method` as `acquire` does, asking `wanted()` meanwhile: False
        as soon as it says no (no token spent). True: the token is this thread's next call
        of `method` (PacedWebClient sends it without waiting again; see `unreserve`).

        `place`: this Pi's place in the command's claiming order (troupe.ranking), 0 first.
        A Pi's own claims (place 0) go first, oldest first; then the ones it steps in for,
        nearest place first and newest first. Every Pi's Tier-2 bucket refills at the same
        pace: queued oldest-first alike, the Pis spent each token on the same command, two
        of three pins.add lost (the burst bench: a Pi claimed 15 commands in two minutes).
        Stepping in from the newest end, a Pi meets the first in line, working from the
        oldest, only where the two ends meet."""
        if self._take(method, ts, wanted, place) is None:
            return False
        _local.prepaid = method
        return True

    def unreserve(self) -> None:
        """A reserved token this thread did not spend (its call was never made): give it
        back."""
        method, _local.prepaid = getattr(_local, "prepaid", None), None
        if method is None:
            return
        with self._cond:
            bucket = self._buckets.get(method)
            if bucket is not None:
                bucket.tokens = min(bucket.capacity, bucket.tokens + 1)
            if method == CLAIMS and self._held:
                self._held.pop()
            self._cond.notify_all()

    def acquire(self, method: str, ts: str | None = None) -> float:
        """Wait for a token for `method`; returns the seconds waited. `ts`: the command the
        call serves (default: this thread's, see `serving`); the oldest goes first."""
        if getattr(_local, "prepaid", None) == method:  # reserved (see `reserve`)
            _local.prepaid = None
            return 0.0
        waited = self._take(method, ts)
        assert waited is not None
        return waited

    def _take(self, method: str, ts: str | None,
              wanted: Callable[[], bool] | None = None, place: int = 0) -> float | None:
        """Take a token for `method`, oldest command first (see `reserve` for `place`): the
        seconds waited, or None if `wanted` said no first."""
        ts = ts if ts is not None else served()
        try:
            when = float(ts) if ts else float("inf")
        except ValueError:
            when = float("inf")
        rank = (place, when if place == 0 or when == float("inf") else -when)
        if threading.current_thread().name.startswith(URGENT_THREADS):
            rank = (-1, 0.0)
        started = time.monotonic()
        me = (rank, next(self._seq))
        with self._cond:
            queue = self._waiting.setdefault(method, [])
            heapq.heappush(queue, me)
            try:
                while True:
                    if wanted is not None and not wanted():
                        return None
                    now = time.monotonic()
                    wait = self._bucket(method, now).wait_for(now)
                    if method == CLAIMS and self._busy(now, now - started):
                        self._cond.wait(timeout=0.5)  # notified when one goes out
                        continue
                    if queue[0] == me and wait <= 0:
                        self._buckets[method].tokens -= 1
                        if method == CLAIMS:  # in hand until unpinned, or refused
                            self._held.append(now)
                        break
                    timeout = wait if queue[0] == me else None
                    if wanted is not None:
                        timeout = min(timeout or ASK_EVERY, ASK_EVERY)
                    self._cond.wait(timeout=timeout)
            finally:
                queue.remove(me)
                heapq.heapify(queue)
                self._cond.notify_all()
        waited = time.monotonic() - started
        if waited > 0.001:
            self.waited += waited
        if waited > 0.5:
            _last_held[0] = time.time()
        return waited

    def _busy(self, now: float, waited: float = 0.0) -> bool:
        """Whether this Pi has enough work in hand: claims in hand whose heartbeats one more
        would push past half the posting budget (always), or, for a claim that waited less
        than CLAIM_HOLD, answers, outcome markers or unpins waiting for a token, or claims
        in hand that one more would push past half the lease to finish."""
        in_hand = self.in_hand
        # A held claim may post a heartbeat every lease / 3 (slackmq): those must leave
        # most of the posting budget to the answers.
        posts = self._bucket("chat.postMessage", now)
        posts.refill(now)
        if in_hand and in_hand + 1 > posts.rate * self.lease / 3 / 2:
            return True
        if waited >= CLAIM_HOLD:
            return False
        if any(self._waiting.get(m) for m in FINISHING):
            return True
        for method in FINISHING:
            bucket = self._bucket(method, now)
            bucket.refill(now)
            if (in_hand + 1 - bucket.tokens) / bucket.rate > self.lease / 2:
                return True
        return False

    def released(self) -> None:
        """A claim in hand was unpinned, or its pins.add failed."""
        with self._cond:
            if self._held:
                self._held.pop(0)
            self._cond.notify_all()

    def limited_by_slack(self, method: str, retry_after: float) -> None:
        """Slack answered 429 despite the pacing: hold `method` for Retry-After and slow it
        down from now on (another client with this token, or a stricter limit)."""
        with self._cond:
            now = time.monotonic()
            bucket = self._bucket(method, now)
            bucket.refill(now)
            bucket.tokens = min(bucket.tokens, 0.0)
            bucket.hold_until = max(bucket.hold_until, now + retry_after)
            if self.seeded:  # unseeded: the endpoint said it has no limits; a 429 there is
                bucket.rate = max(bucket.floor, bucket.rate * TIGHTEN)  # a pause, not a pace
                bucket.limited_at = now
            self.limited += 1
            self._cond.notify_all()


_pacers: dict[str, Pacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(token: str, lease: float = 30.0, seeded: bool = True) -> Pacer:
    """The one Pacer of the app this bot token belongs to (Slack's limits are per app)."""
    with _pacers_lock:
        if token not in _pacers:
            _pacers[token] = Pacer(lease=lease, seeded=seeded)
        return _pacers[token]


def late_note(ts: str, now: float | None = None) -> str:
    """What an answer to the command posted at `ts` adds when it comes late while this
    Pi's calls were being held back by Slack's limits ('' otherwise)."""
    now = time.time() if now is None else now
    try:
        late = now - float(ts)
    except ValueError:
        return ""
    if late < WAITED_NOTE or _last_held[0] < float(ts):
        return ""
    return f" (ran {late:.0f} s late: Slack was holding us back)"
