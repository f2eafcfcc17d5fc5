"""Taking over a claim whose holder is gone: exactly one taker wins; toggles are reported."""

from __future__ import annotations

from collections import Counter

from slackmq_helpers import client, make_mq, race, wait_until

from slackmq import Holder, elect

LEASE = 1.0


def thread_texts(ws, ts):
    return [m.get("text", "") for m in ws.messages(thread_ts=ts) if m.get("ts") != ts]


def test_elect_is_by_slack_order_and_rounds():
    h = Holder("UHOLD", 100.0, "100.000001")

    def r(ts, by):
        return {"ts": ts, "text": f"slackmq-takeover {by} of UHOLD@100"}

    # Too early (< created + 1 s grain + lease 10) is not eligible; the first eligible wins.
    replies = [r("105.0", "UA"), r("111.5", "UB"), r("111.6", "UC"), {"ts": "112", "text": "hi"}]
    assert elect(replies, h, 10) == "111.5"
    # Order comes from ts, not from the order of the list.
    assert elect(list(reversed(replies)), h, 10) == "111.5"
    # Round 2: the round-1 winner died too; eligible a lease after it.
    assert elect(replies + [r("121.4", "UD"), r("121.6", "UE")], h, 10) == "121.6"
    # The holder itself (restarted) may take its own pin at once.
    assert elect([r("100.5", "UHOLD"), r("109.5", "UB")], h, 10) == "100.5"
    # Replies older than the pin belong to an earlier claim.
    assert elect([r("50", "UHOLD")], h, 10) is None


def test_exactly_one_taker_wins_and_a_toggle_is_reported_not_rerun(ws16):
    holder = make_mq(ws16, 0, lease=LEASE)
    takers = [make_mq(ws16, i, lease=LEASE) for i in range(1, 9)]
    for t in takers:
        _ = t.user_id
    msgs = [ws16.post(f"toggle lamp {i}") for i in range(8)]
    for ts in msgs:
        assert holder.claim(ts).won  # ... and the holder dies: it never finishes
    # Before the lease: nobody may take over, and nobody posts an election reply.
    assert all(t.take_over(msgs[0], idempotent=False).status == "lost" for t in takers[:3])
    assert thread_texts(ws16, msgs[0]) == []
    assert takers[0].stale(msgs[-1]) is None
    wait_until(lambda: takers[0].stale(msgs[-1]), timeout=5, what="the lease to pass")
    assert {h.ts for h in takers[0].stale_claims()} >= set(msgs)
    for k, ts in enumerate(msgs):
        n = 2 + k  # 2 ... 9 racing takers
        group = ([holder] + takers)[1 : n + 1] if n <= 8 else takers
        claims = race([lambda t=t, ts=ts: t.take_over(ts, idempotent=False) for t in group])
        statuses = Counter(c.status for c in claims)
        assert statuses["won"] == 1, (k, statuses)
        winner = next(c for c in claims if c.won)
        assert winner.taken_over and winner.interrupted and winner.report_only
        assert winner.holder.user_id == holder.user_id
        # the pin stayed in place through the election: fresh claimers still lose
        assert make_mq(ws16, 12).claim(ts).status == "lost"
        winner.interrupted()  # report, mark, release; do not run the toggle
        assert [r["name"] for r in ws16.reactions(ts)] == ["warning"]
        assert all(p["message"]["ts"] != ts for p in ws16.pins())
        late = make_mq(ws16, 13).claim(ts)
        assert late.status == "done" and late.outcome == "interrupted"
        assert takers[-1].take_over(ts, idempotent=False).status == "done"


def test_idempotent_takeover_runs_it_again(ws16):
    holder, taker = make_mq(ws16, 0, lease=LEASE), make_mq(ws16, 1, lease=LEASE)
    ts = ws16.post("lights off")
    holder.claim(ts)
    wait_until(lambda: taker.stale(ts), timeout=5, what="stale")
    runs = 0
    with taker.take_over(ts, idempotent=True) as claim:
        assert claim.won and claim.taken_over and not claim.interrupted
        runs += 1
    assert runs == 1 and claim.outcome == "done"
    assert make_mq(ws16, 2).claim(ts).status == "done"


def test_take_over_as_context_manager_reports_interrupted(ws16):
    holder, taker = make_mq(ws16, 0, lease=LEASE), make_mq(ws16, 1, lease=LEASE)
    ts = ws16.post("toggle heater")
    holder.claim(ts)
    wait_until(lambda: taker.stale(ts), timeout=5, what="stale")
    with taker.take_over(ts, idempotent=False) as claim:
        assert claim.interrupted
    assert claim.outcome == "interrupted"


def test_a_restarted_holder_takes_back_its_own_pin_at_once(ws16):
    ts = ws16.post("toggle bedroom light")
    assert make_mq(ws16, 0, lease=60).claim(ts).won
    other = make_mq(ws16, 1, lease=60)
    assert other.take_over(ts, idempotent=False).status == "lost"  # lease not over
    restarted = make_mq(ws16, 0, lease=60)  # same app, new process
    claim = restarted.take_over(ts, idempotent=False)
    assert claim.won and claim.taken_over and claim.interrupted
    claim.interrupted()
    # ...but a process that still holds it does not take it from itself
    ts2 = ws16.post("toggle bedroom fan")
    live = make_mq(ws16, 0, lease=60)
    c2 = live.claim(ts2)
    assert live.take_over(ts2, idempotent=True).status == "lost"
    c2.done()


def test_holder_died_after_marking_done_but_before_unpin(ws16):
    holder, taker = make_mq(ws16, 0, lease=LEASE), make_mq(ws16, 1, lease=LEASE)
    ts = ws16.post("toggle desk lamp")
    holder.claim(ts)
    client(ws16, 0).reactions_add(channel=ws16.channel_id, timestamp=ts, name="white_check_mark")
    # marked, then died: no need even to wait for the lease
    assert taker.stale(ts) is None
    claim = taker.take_over(ts, idempotent=False)
    assert claim.status == "done" and claim.outcome == "done"
    assert all(p["message"]["ts"] != ts for p in ws16.pins())


def test_round_two_when_the_taker_dies_too_and_a_slow_holder_is_harmless(ws16):
    holder = make_mq(ws16, 0, lease=LEASE, heartbeat=False)  # cut off: silent, not dead
    t1, t2, t3 = (make_mq(ws16, i, lease=LEASE) for i in (1, 2, 3))
    ts = ws16.post("toggle tv")
    slow = holder.claim(ts)
    wait_until(lambda: t1.stale(ts), timeout=5, what="stale")
    first = t1.take_over(ts, idempotent=True)
    assert first.won  # ... and t1 dies too, holding round 1
    first.heartbeat.stop()
    assert t2.take_over(ts, idempotent=True).status == "lost"  # round 1 is fresh

    def round_two():
        c = race([lambda: t2.take_over(ts, idempotent=True), lambda: t3.take_over(ts, True)])
        return c if any(x.won for x in c) else None

    claims = wait_until(round_two, timeout=8, what="round 2")
    assert sum(c.won for c in claims) == 1
    second = next(c for c in claims if c.won)
    second.done()
    # The original holder was only slow: its late finish must not fail or resurrect the pin.
    slow.done()
    first.release()
    assert all(p["message"]["ts"] != ts for p in ws16.pins())
    assert make_mq(ws16, 4).claim(ts).status == "done"
