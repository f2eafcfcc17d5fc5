"""Many claimers racing: exactly one winner; late claimers never run it again."""

from __future__ import annotations

import random
import threading
from collections import Counter

from slackmq_helpers import make_mq, race


class Crowd:
    """``n`` persistent claimer threads, one SlackMQ (own app, own WebClient) each."""

    def __init__(self, ws, n):
        self.mqs = [make_mq(ws, i) for i in range(n)]
        for mq in self.mqs:
            _ = mq.user_id  # auth.test once, outside the races

    def race(self, n, fn):
        """Run ``fn(mq, i)`` in ``n`` threads released together by a barrier; return results."""
        return race([lambda i=i: fn(self.mqs[i], i) for i in range(n)])


def test_exactly_one_winner_200_races_of_2_to_16(ws16):
    crowd = Crowd(ws16, 16)
    sizes = Counter()
    for rep in range(200):
        n = 2 + rep % 15  # every N from 2 to 16, about 13 times each
        ts = ws16.post(f"toggle light {rep}")
        claims = crowd.race(n, lambda mq, i, ts=ts: mq.claim(ts))
        statuses = Counter(c.status for c in claims)
        assert statuses["won"] == 1, (rep, n, statuses)
        assert statuses["lost"] == n - 1, (rep, n, statuses)
        sizes[n] += 1
        winner = next(c for c in claims if c.won)
        loser = next(c for c in claims if not c.won)
        assert loser.holder.user_id == winner.mq.user_id
        winner.release()
    assert set(sizes) == set(range(2, 17))


def test_racers_arriving_before_during_and_after_the_work_run_it_once(ws16):
    """Claimers start at random moments: before, while and after the winner works and releases."""
    crowd = Crowd(ws16, 8)
    seen = Counter()
    lock = threading.Lock()
    for rep in range(25):
        ts = ws16.post(f"toggle fan {rep}")
        runs = []
        gate = [threading.Event() for _ in range(8)]

        def work(mq, i, ts=ts, runs=runs, gate=gate):
            # Stagger by events, not sleeps: claimer i starts after claimer i-1 finished.
            if i:
                gate[i - 1].wait(timeout=10)
            if random.random() < 0.5:
                gate[i].set()  # let the next one start now, racing with us
            with mq.claimed(ts) as claim:
                if claim.won:
                    with lock:
                        runs.append(i)
            gate[i].set()
            return claim.status

        statuses = crowd.race(8, work)
        assert len(runs) == 1, (rep, runs, statuses)
        assert statuses.count("won") == 1
        seen.update(statuses)
        assert all(p["message"]["ts"] != ts for p in ws16.pins())
    assert seen["done"] > 0 and seen["lost"] > 0, seen  # both late and concurrent claimers
