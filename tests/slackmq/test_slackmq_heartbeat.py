"""Fencing with heartbeats (issue 19 case 3): a holder renews its claim every lease/3
while it works; takers measure its silence on Slack's clock from the last heartbeat, not
from the pin; a holder that really died is taken over, and its late finish changes nothing."""

from __future__ import annotations

import time

from slackmq_helpers import make_mq, wait_until

from slackmq.heartbeat import HEARTBEAT_TAG

LEASE = 1.5  # the case scaled down: lease 5 s, a 12 s turn -> lease 1.5 s, 3.6 s


def thread(ws, ts, tag):
    """(ts, user) of the replies starting with ``tag`` in the thread of ``ts``, in order."""
    return sorted((float(m["ts"]), m.get("user"))
                  for m in ws.messages(thread_ts=ts)
                  if m.get("ts") != ts and m.get("text", "").startswith(tag))


def keep_trying(until: float, attempt) -> list:
    """Call ``attempt`` every 0.2 s until monotonic ``until``; its results."""
    out = []
    while time.monotonic() < until:
        out.append(attempt())
        time.sleep(0.2)  # a taker's look every 0.2 s (not a wait for a condition)
    return out


def test_a_slow_holder_that_renews_its_claim_is_not_taken_over(ws):
    holder, taker = make_mq(ws, 0, lease=LEASE), make_mq(ws, 1, lease=LEASE)
    ts = ws.post("toggle slow")
    claim = holder.claim(ts)
    assert claim.won  # ... and the work takes 2.4 leases
    tries = keep_trying(time.monotonic() + 2.4 * LEASE,
                        lambda: taker.take_over(ts, idempotent=False).status)
    assert tries and set(tries) == {"lost"}
    assert thread(ws, ts, "slackmq-takeover") == []  # not even a bid: the holder is alive
    beats = thread(ws, ts, HEARTBEAT_TAG)  # every lease/3 (a gap's length is for the bench:
    assert len(beats) >= 5 and {u for _, u in beats} == {holder.user_id}  # CI stalls vary)
    claim.done()
    assert not claim.superseded
    assert [r["name"] for r in ws.reactions(ts)] == ["white_check_mark"] and ws.pins() == []
    n = len(thread(ws, ts, HEARTBEAT_TAG))
    time.sleep(LEASE)  # no heartbeat after the finish: nothing to wait for, only to see none
    assert len(thread(ws, ts, HEARTBEAT_TAG)) == n


def test_a_holder_that_died_is_taken_over_a_lease_after_its_last_heartbeat(ws):
    holder, taker = make_mq(ws, 0, lease=LEASE), make_mq(ws, 1, lease=LEASE)
    ts = ws.post("toggle slow")
    claim = holder.claim(ts)
    wait_until(lambda: len(thread(ws, ts, HEARTBEAT_TAG)) >= 4, 10, "four heartbeats")
    claim.heartbeat.stop()  # the holder hangs for good: no more heartbeats
    last = thread(ws, ts, HEARTBEAT_TAG)[-1][0]
    took = wait_until(lambda: (c := taker.take_over(ts, idempotent=False)).won and c, 10,
                      "the takeover")
    assert took.report_only
    bids = thread(ws, ts, "slackmq-takeover")
    assert bids and bids[-1][0] >= last + LEASE  # silence counted from the last heartbeat
    pin = ws.pins()[0]
    assert bids[-1][0] >= pin["created"] + 2 * LEASE  # ... not from the pin (4 beats: 2 s)
    claim.done()  # the late finish changes nothing: no marker, no unpin
    assert claim.superseded and ws.reactions(ts) == []
    assert [p["created_by"] for p in ws.pins()] == [holder.user_id]
    took.mark_interrupted()
    assert [r["name"] for r in ws.reactions(ts)] == ["warning"] and ws.pins() == []


def test_a_slow_sequential_turn_that_renews_is_not_freed(ws):
    a, b, c = (make_mq(ws, i, lease=LEASE) for i in range(3))
    ts = ws.post("update all")
    slow = a.sequence(ts).turn()
    assert slow.won  # a 2.4-lease turn
    seq_b, seq_c = b.sequence(ts), c.sequence(ts)
    freed = keep_trying(time.monotonic() + 2.4 * LEASE,
                        lambda: (seq_b.take_over(), seq_c.turn().status))
    assert set(freed) == {(None, "lost")}  # never freed, no second turn while a runs
    slow.done()
    assert seq_c.turn().won  # "previous turn done": the next one goes
    assert [r["users"] for r in ws.reactions(ts)] == [[a.user_id]]
