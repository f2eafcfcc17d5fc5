"""Sequence turns are ordered in the thread: a pin's disappearance alone never starts a turn.

Anyone in the channel can remove a pin (a person, another app, a late unpin). The next
worker then wins ``pins.add``, but finds the earlier turn still open in the thread (its
record, no marker of its holder, not taken over) and waits; it goes once the holder marks
done, or after a takeover election about that turn when the holder went silent.
"""

from __future__ import annotations

import threading
import time

from slackmq_helpers import client, make_mq, wait_until

from slackmq import Sequence

LEASE = 1.5


def _pinned(ws, ts: str) -> bool:
    return any(p["message"]["ts"] == ts for p in ws.pins())


def _outsider_unpins(ws, ts: str) -> None:
    """Another app in the channel removes the pin (pins.remove works for any member)."""
    client(ws, 15).pins_remove(channel=ws.channel_id, timestamp=ts)
    assert not _pinned(ws, ts)


class Turns:
    """Workers taking their turns the way Troupe's guard does: on a pin held, wait for it to
    go; behind an open turn, look again at ``look_again`` and try a takeover first."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.lock = threading.Lock()
        self.active: set[int] = set()
        self.overlap: list[int] = []
        self.ran: list[int] = []
        self.waited: list[int] = []  # workers told to wait behind an open turn
        self.reported: list[str] = []  # holders a takeover reported as interrupted
        self.errors: list[BaseException] = []

    def enter(self, i: int) -> None:
        with self.lock:
            self.active.add(i)
            self.overlap.append(len(self.active))
            self.ran.append(i)

    def leave(self, i: int) -> None:
        with self.lock:
            self.active.discard(i)

    def worker(self, i: int, seq: Sequence, timeout: float = 30.0) -> None:
        try:
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                claim = seq.turn()
                if claim.won:
                    with claim:
                        self.enter(i)
                        time.sleep(0.05)  # the work (no waiting on anything)
                        self.leave(i)
                    return
                if claim.status == "done":
                    return
                if claim.waiting_for is not None:
                    self.waited.append(i)
                    at = claim.look_again
                    wait_until(lambda: seq.mq.clock.now() >= at, 4 * LEASE,  # noqa: B023
                               "the open turn's lease")
                    holder = seq.take_over()
                    if holder is not None:
                        self.reported.append(holder.user_id)
                else:
                    wait_until(lambda: not _pinned(self.ws, seq.ts), timeout, "the pin to go")
            raise AssertionError(f"worker {i} got no turn")
        except BaseException as e:  # noqa: BLE001
            self.errors.append(e)


def test_a_removed_pin_starts_no_second_turn(ws16):
    mqs = [make_mq(ws16, i, lease=LEASE) for i in range(3)]
    ts = ws16.post("update all")
    first = mqs[0].sequence(ts).turn()
    assert first.won
    t = Turns(ws16)
    t.enter(0)
    _outsider_unpins(ws16, ts)  # while worker 0 is in its turn
    others = [threading.Thread(target=t.worker, args=(i, mqs[i].sequence(ts))) for i in (1, 2)]
    for th in others:
        th.start()
    wait_until(lambda: sorted(set(t.waited)) == [1, 2], 10, "both others told to wait")
    # Worker 0 stays in its turn for two leases (renewing it by heartbeat): nobody else starts
    # and nobody takes it over.
    end = time.monotonic() + 2 * LEASE
    while time.monotonic() < end:
        assert t.active == {0}, t.active
        time.sleep(0.05)
    assert t.reported == []
    t.leave(0)
    first.done()
    for th in others:
        th.join(timeout=30)
    assert not t.errors, t.errors
    assert sorted(t.ran) == [0, 1, 2]  # each worker's turn once
    assert t.ran[0] == 0 and max(t.overlap) == 1  # never two at once
    assert t.reported == []  # nobody was reported interrupted: worker 0 finished
    marks = {r["name"]: set(r["users"]) for r in ws16.reactions(ts)}
    assert marks["white_check_mark"] == {m.user_id for m in mqs}
    assert not _pinned(ws16, ts)


def test_a_holder_that_dies_after_its_pin_was_removed_is_taken_over(ws16):
    dead = make_mq(ws16, 3, lease=LEASE, heartbeat=False)  # cut off: no sign of life
    live = [make_mq(ws16, i, lease=LEASE) for i in (4, 5)]
    ts = ws16.post("update all")
    assert dead.sequence(ts).turn().won  # ... and it dies in its turn
    _outsider_unpins(ws16, ts)
    t = Turns(ws16)
    workers = [threading.Thread(target=t.worker, args=(i, mq.sequence(ts)))
               for i, mq in zip((4, 5), live, strict=True)]
    for th in workers:
        th.start()
    for th in workers:
        th.join(timeout=30)
    assert not t.errors, t.errors
    assert sorted(t.ran) == [4, 5] and max(t.overlap) == 1
    assert t.reported == [dead.user_id]  # one taker reports it, once


def test_a_turn_released_unrun_holds_nobody_up(ws16):
    a, b = (make_mq(ws16, i, lease=LEASE).sequence(ws16.post("update")) for i in (6, 7))
    b = make_mq(ws16, 7, lease=LEASE).sequence(a.ts)
    held = a.turn()
    assert held.won
    held.release()  # the work did not start: its record is withdrawn
    claim = b.turn()
    assert claim.won and claim.waiting_for is None
    claim.done()
