"""Retain mode: finished messages stay pinned for a while, so a claim is one round trip."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from slackmq_helpers import make_mq, wait_until

from slackmq import SlackMQConfigError


def calls(ws, i):
    return sum(ws.call_counts().get(ws.apps[i]["name"], {}).values())


def test_claim_is_one_call_and_claim_done_release_two(ws16):
    a = make_mq(ws16, 0, retain=120, fresh=60)
    b = make_mq(ws16, 1, retain=120, fresh=60)
    _ = a.user_id, b.user_id
    ts = ws16.post("toggle lamp")
    before = calls(ws16, 0)
    with a.claimed(ts) as claim:
        assert claim.won and claim.calls == 1  # pins.add only
    assert calls(ws16, 0) - before == 2  # + reactions.add; the pin stays as the record
    assert [p["message"]["ts"] for p in ws16.pins()].count(ts) == 1
    before = calls(ws16, 1)
    late = b.claim(ts)
    assert late.status == "lost" and calls(ws16, 1) - before == 1  # never runs it again
    assert b.take_over(ts, idempotent=False).status == "done"  # retained, not stale
    assert ts in [p["message"]["ts"] for p in ws16.pins()]


def test_staggered_racers_run_it_once(ws16):
    mqs = [make_mq(ws16, i, retain=120, fresh=60) for i in range(8)]
    for mq in mqs:
        _ = mq.user_id
    seen = Counter()
    for rep in range(20):
        ts = ws16.post(f"toggle fan {rep}")
        runs, gate = [], [threading.Event() for _ in range(8)]

        def work(i, ts=ts, runs=runs, gate=gate):
            if i:
                gate[i - 1].wait(timeout=10)
            if i % 2:
                gate[i].set()
            with mqs[i].claimed(ts) as claim:
                if claim.won:
                    runs.append(i)
            gate[i].set()
            seen[claim.status] += 1

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert len(runs) == 1, (rep, runs)
    assert seen["won"] == 20


def test_sweep_unpins_after_retain_and_a_later_claim_verifies(ws16):
    a = make_mq(ws16, 0, retain=1.5, fresh=0.5, deadline=0.5)
    b = make_mq(ws16, 1, retain=1.5, fresh=0.5, deadline=0.5)
    ts = ws16.post("toggle heater")
    with a.claimed(ts) as claim:
        assert claim.won
    assert a.sweep() == []  # too young
    wait_until(lambda: ts in a.sweep(), timeout=5, what="sweep after retain")
    assert all(p["message"]["ts"] != ts for p in ws16.pins())
    late = b.claim(ts)  # older than fresh: pins.add + reactions.get
    assert late.status == "done" and late.outcome == "done" and late.calls == 3


def test_sweep_in_default_mode_frees_marked_pins_of_dead_holders(ws16):
    from slackmq_helpers import client

    a, b = make_mq(ws16, 0, lease=0.5), make_mq(ws16, 1, lease=0.5)
    ts = ws16.post("toggle attic fan")
    a.claim(ts)
    client(ws16, 0).reactions_add(channel=ws16.channel_id, timestamp=ts, name="white_check_mark")
    wait_until(lambda: ts in b.sweep(), timeout=5, what="sweep")
    assert b.claim(ts).status == "done"


def test_retain_must_cover_fresh_and_deadline(ws16):
    with pytest.raises(SlackMQConfigError):
        make_mq(ws16, 0, retain=30, fresh=20, deadline=20)
