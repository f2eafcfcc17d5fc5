"""A holder that finishes after its lease looks before it marks and unpins (issue 19
cases 3 and 9): a claim taken over meanwhile gets no second marker and keeps its pin for
the taker; a sequence turn whose pin was freed never unpins the next worker's turn."""

from __future__ import annotations

from slackmq_helpers import make_mq, wait_until

LEASE = 1.0


def test_a_slow_holder_taken_over_adds_no_marker_and_leaves_the_pin(ws):
    # A holder whose heartbeats do not reach Slack (cut off) looks dead to takers.
    holder = make_mq(ws, 0, lease=LEASE, heartbeat=False)
    taker = make_mq(ws, 1, lease=LEASE)
    ts = ws.post("toggle slow")
    claim = holder.claim(ts)
    assert claim.won  # ... and the work takes longer than the lease
    wait_until(lambda: taker.stale(ts), 5, "the lease to pass")
    took = taker.take_over(ts, idempotent=False)
    assert took.won and took.report_only
    claim.done()  # the slow holder finishes while the taker reports
    assert claim.superseded and claim.outcome is None
    assert ws.reactions(ts) == []  # no white_check_mark next to the taker's warning
    assert [p["created_by"] for p in ws.pins()] == [holder.user_id]  # still the taker's to free
    took.mark_interrupted()
    assert [r["name"] for r in ws.reactions(ts)] == ["warning"]
    assert ws.pins() == []


def test_a_slow_holder_not_taken_over_finishes_as_usual(ws):
    holder = make_mq(ws, 0, lease=LEASE)
    ts = ws.post("toggle slow but alone")
    claim = holder.claim(ts)
    wait_until(lambda: holder.clock.surely_past(claim._started + LEASE), 5, "the lease")
    claim.done()
    assert not claim.superseded
    assert [r["name"] for r in ws.reactions(ts)] == ["white_check_mark"] and ws.pins() == []


def test_a_slow_turn_never_unpins_the_next_workers_turn(ws):
    a = make_mq(ws, 0, lease=LEASE, heartbeat=False)  # cut off: no heartbeat reaches Slack
    b, c = (make_mq(ws, i, lease=LEASE) for i in (1, 2))
    ts = ws.post("update all")
    slow = a.sequence(ts).turn()
    assert slow.won  # ... and a's turn outlasts the lease
    wait_until(lambda: (b.holder(ts) or a.holder(ts)).age >= LEASE, 5, "the lease to pass")
    assert b.sequence(ts).take_over() is not None  # b frees a's turn
    turn = c.sequence(ts).turn()
    assert turn.won  # c's turn now
    slow.done()  # a finishes late: its own marker, but no unpin
    assert [(p["created_by"]) for p in ws.pins()] == [c.user_id]
    assert [r["users"] for r in ws.reactions(ts)] == [[a.user_id]]
    turn.done()
    assert ws.pins() == []
