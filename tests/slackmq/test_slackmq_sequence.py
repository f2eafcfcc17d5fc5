"""One message for a sequence: every worker runs once, one at a time (the rolling update)."""

from __future__ import annotations

import threading

import pytest
from slackmq_helpers import make_mq, wait_until

from slackmq import SlackMQTimeout


def test_each_worker_once_one_at_a_time(ws16):
    n = 6
    mqs = [make_mq(ws16, i) for i in range(n)]
    ts = ws16.post("update all")
    active, ran, overlap = [0], [], []
    lock = threading.Lock()
    errors = []

    def worker(i):
        try:
            seq = mqs[i].sequence(ts)
            claim = seq.wait_turn(timeout=20, poll=0.01, max_poll=0.1)
            assert claim.won
            with claim:
                with lock:
                    active[0] += 1
                    overlap.append(active[0])
                    ran.append(i)
                with lock:
                    active[0] -= 1
            assert seq.turn().status == "done"  # no second run, and no call needed
            again = mqs[i].sequence(ts).turn()  # even for a fresh Sequence (restart)
            assert again.status in ("done", "lost")
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert sorted(ran) == list(range(n))
    assert max(overlap) == 1
    marks = {r["name"]: set(r["users"]) for r in ws16.reactions(ts)}
    assert marks["white_check_mark"] == {m.user_id for m in mqs}
    assert all(p["message"]["ts"] != ts for p in ws16.pins())


def test_turn_is_lost_while_another_runs_and_event_driven_retry(ws16):
    a, b = make_mq(ws16, 0).sequence(ws16.post("update")), None
    b = make_mq(ws16, 1).sequence(a.ts)
    first = a.turn()
    assert first.won
    assert b.turn().status == "lost"
    first.done()  # the core would now see pin_removed and call turn() again
    second = b.turn()
    assert second.won
    second.failed()
    assert b.turn().status == "done" and b.turn().outcome == "failed"
    assert a.turn().status == "done"


def test_wait_turn_times_out_loudly(ws16):
    a, b = make_mq(ws16, 0).sequence(ws16.post("update")), None
    b = make_mq(ws16, 1).sequence(a.ts)
    held = a.turn()
    with pytest.raises(SlackMQTimeout):
        b.wait_turn(timeout=0.3, poll=0.05)
    held.done()


def test_a_dead_workers_turn_is_freed_and_reported(ws16):
    lease = 1.0
    dead = make_mq(ws16, 0, lease=lease).sequence(ws16.post("update"))
    live = [make_mq(ws16, i, lease=lease).sequence(dead.ts) for i in (1, 2)]
    assert dead.turn().won  # ... and it dies during its turn
    assert live[0].take_over() is None  # lease not over
    freed = wait_until(lambda: live[0].take_over() or live[1].take_over(), timeout=6, what="free")
    assert freed.user_id == dead.mq.user_id  # report: that worker's turn was interrupted
    for s in live:
        c = s.wait_turn(timeout=5, poll=0.01)
        assert c.won
        c.done()


def test_a_worker_restarted_mid_turn_resumes_and_finishes_it(ws16):
    ts = ws16.post("update all")
    before = make_mq(ws16, 0).sequence(ts)
    assert before.turn().won  # ... the update restarts this process mid-turn
    other = make_mq(ws16, 1).sequence(ts)
    assert other.turn().status == "lost"
    after = make_mq(ws16, 0).sequence(ts)  # the new process
    claim = after.resume()
    assert claim.won and claim.taken_over
    claim.done()
    assert after.turn().status == "done"
    assert other.resume().won  # not its pin: resume() is turn()
