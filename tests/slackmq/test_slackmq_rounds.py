"""Successive takeovers on one message: only what is about the current pin counts.

A message's thread keeps every takeover reply ever posted on it, and a worker's
reactions stay on it after its turn. A later takeover must not be decided by a
reply about an earlier pin, nor act on a pin it did not elect about, nor free a
pin because of a marker from its holder's earlier turn.
"""

from __future__ import annotations

import threading
import time

from slackmq_helpers import client, make_mq, race, wait_until

from slackmq import Holder, elect

LEASE = 1.0


def workers(ws, n):
    """``n`` SlackMQs (one app each) with the short lease, their auth.test done."""
    mqs = [make_mq(ws, i, lease=LEASE) for i in range(n)]
    for m in mqs:
        _ = m.user_id
    return mqs


def about(h: Holder) -> str:
    return f"of {h.user_id}@{h.since:.0f}"


def takeover_replies(ws, ts):
    """(ts, text) of the takeover replies in the thread of ``ts``, in Slack order."""
    out = [
        (float(m["ts"]), m.get("text", ""))
        for m in ws.messages(thread_ts=ts)
        if m.get("ts") != ts and m.get("text", "").startswith("slackmq-takeover")
    ]
    return sorted(out)


def stall_before(mq, method):
    """Make ``mq`` stop just before its next ``method`` call until ``go`` is set."""
    arrived, go = threading.Event(), threading.Event()
    real = mq._api

    def api(m, **params):
        if m == method and not go.is_set():
            arrived.set()
            assert go.wait(timeout=20)
        return real(m, **params)

    mq._api = api
    return arrived, go


def test_elect_counts_only_replies_about_this_pin():
    hb = Holder("UB", 200.0, "50.000001")  # B's pin (its turn), after A's pin at 100

    def r(ts, by, of="UB@200"):
        return {"ts": ts, "text": f"slackmq-takeover {by} of {of}"}

    # A round-1 reply of B about A's pin, in the second B pinned: not B restarting.
    assert elect([r("200.4", "UB", of="UA@100")], hb, 10) is None
    assert elect([r("200.4", "UB", of="UA@100"), r("201.0", "UB")], hb, 10) == "201.0"
    # A late reply about A's pin, eligible by its time, does not take B's round.
    late = r("211.5", "UX", of="UA@100")
    assert elect([late, r("211.6", "UC"), r("211.7", "UD")], hb, 10) == "211.6"
    # Same user, another pin (B pinned the message before, at 150): not about this one.
    assert elect([r("211.5", "UC", of="UB@150"), r("211.6", "UD")], hb, 10) == "211.6"
    # Malformed or foreign takeover texts do not count.
    bad = {"ts": "211.5", "text": "slackmq-takeover UC"}
    assert elect([bad, r("211.6", "UD")], hb, 10) == "211.6"


def test_second_sequence_takeover_is_not_decided_by_the_first_rounds_replies(ws16):
    mqs = workers(ws16, 7)
    ts = ws16.post("update all")
    seqs = [m.sequence(ts) for m in mqs]
    assert seqs[0].turn().won  # A runs its turn ... and dies
    ha = mqs[1].holder(ts)
    wait_until(lambda: mqs[1].stale(ts), timeout=5, what="A's turn to go stale")
    # Round 1: four workers race to free A's turn; exactly one does.
    freed = race([s.take_over for s in seqs[1:5]])
    assert [h for h in freed if h is not None] == [ha], freed
    w = 1 + next(i for i, h in enumerate(freed) if h is not None)
    assert seqs[w].turn().won  # B, the round-1 winner, takes its turn ... and dies too
    hb = mqs[5].holder(ts)
    assert hb is not None and hb.user_id == mqs[w].user_id
    wait_until(lambda: mqs[5].stale(ts), timeout=5, what="B's turn to go stale")
    # A round-1 taker that stalled after reading A's pin: its reply lands now.
    # By its time it would be eligible for B's round; it is about A, not B.
    client(ws16, 6).chat_postMessage(
        channel=ws16.channel_id,
        thread_ts=ts,
        text=f"slackmq-takeover {mqs[6].user_id} {about(ha)}",
    )
    # Round 2: the round-1 losers and a newcomer race to free B's turn.
    racers = [seqs[i] for i in range(1, 6) if i != w]
    freed2 = race([s.take_over for s in racers])
    assert [h for h in freed2 if h is not None] == [hb], freed2
    winner = racers[next(i for i, h in enumerate(freed2) if h is not None)]
    # The winner posted the first reply about B; the late reply about A came before it.
    replies = takeover_replies(ws16, ts)
    first_about_b = next(text for _, text in replies if f"{about(hb)} on {ts}" in text)
    assert first_about_b.split()[1] == winner.mq.user_id
    late_ts = next(t for t, text in replies if text.split()[1] == mqs[6].user_id)
    assert all(late_ts < t for t, text in replies if f"{about(hb)} on {ts}" in text)
    # The others still get their turns, one at a time, once each.
    for i in (1, 2, 3, 4, 5):
        if i == w:
            continue
        c = seqs[i].wait_turn(timeout=5, poll=0.01)
        assert c.won
        c.done()
    assert all(p["message"]["ts"] != ts for p in ws16.pins())


def test_a_stalled_sequence_taker_does_not_unpin_a_later_turn(ws16):
    mqs = workers(ws16, 6)
    ts = ws16.post("update all")
    seqs = [m.sequence(ts) for m in mqs]
    assert seqs[0].turn().won  # A dies in its turn
    wait_until(lambda: mqs[1].stale(ts), timeout=5, what="A's turn to go stale")
    # X reads A's pin, then stalls before posting its takeover reply.
    arrived, go = stall_before(mqs[5], "chat.postMessage")
    out = []
    x = threading.Thread(target=lambda: out.append(seqs[5].take_over()))
    x.start()
    assert arrived.wait(timeout=10)
    ha = mqs[1].holder(ts)
    assert seqs[1].take_over() == ha  # B frees A's turn
    assert seqs[1].turn().won  # ... takes its own, and dies
    wait_until(lambda: mqs[2].stale(ts), timeout=5, what="B's turn to go stale")
    assert seqs[2].take_over().user_id == mqs[1].user_id  # C frees B's turn
    d = seqs[3].turn()  # D's turn: it is alive and running
    assert d.won
    # X wakes: a lease after B's reply about A, its own reply wins a round about A,
    # but A's pin is long gone; the pin now is D's and X must leave it alone.
    go.set()
    x.join(timeout=20)
    assert out == [None]
    assert mqs[4].holder(ts).user_id == mqs[3].user_id
    assert seqs[4].turn().status == "lost"  # still one at a time
    d.done()
    e = seqs[4].turn()
    assert e.won
    e.done()


def test_a_stalled_taker_does_not_take_a_fresh_claim(ws16):
    mqs = workers(ws16, 4)
    ts = ws16.post("toggle lamp")
    assert mqs[0].claim(ts).won  # A dies holding it
    wait_until(lambda: mqs[1].stale(ts), timeout=5, what="A's claim to go stale")
    arrived, go = stall_before(mqs[3], "chat.postMessage")
    out = []
    x = threading.Thread(target=lambda: out.append(mqs[3].take_over(ts, idempotent=True)))
    x.start()
    assert arrived.wait(timeout=10)  # X read A's pin, then stalls
    b = mqs[1].take_over(ts, idempotent=True)
    assert b.won and b.taken_over
    b.release()  # B hands it back without running it (no marker)
    c = mqs[2].claim(ts)  # C claims it afresh and runs it
    assert c.won
    b_reply = takeover_replies(ws16, ts)[0][0]
    wait_until(lambda: time.time() > b_reply + LEASE + 0.2, timeout=5, what="a lease after B")
    go.set()
    x.join(timeout=20)
    # X's reply wins a second round about A's pin, but that pin is gone: C's is not X's.
    assert len(out) == 1 and out[0].status == "lost", out
    assert out[0].holder.user_id == mqs[2].user_id
    c.done()
    assert mqs[1].claim(ts).status == "done"


def test_a_marker_from_an_earlier_turn_does_not_free_a_young_pin(ws16):
    mqs = [make_mq(ws16, i, lease=30) for i in range(4)]
    ts = ws16.post("update all")
    first = mqs[0].sequence(ts).turn()
    assert first.won
    first.done()  # A ran: its own marker stays on the message
    # A restarts and asks for its turn again: it pins, finds its marker, and is
    # about to unpin when the others look.
    a2 = make_mq(ws16, 0, lease=30)
    arrived, go = threading.Event(), threading.Event()
    real_unpin = a2._unpin

    def unpin(t, mine=None):
        arrived.set()
        assert go.wait(timeout=20)
        return real_unpin(t, mine)

    a2._unpin = unpin
    out = []
    probe = threading.Thread(target=lambda: out.append(a2.sequence(ts).turn()))
    probe.start()
    assert arrived.wait(timeout=10)
    # X sees A's young pin with A's marker: that marker is from A's earlier turn.
    assert mqs[1].sequence(ts).take_over() is None
    y_seq, z_seq = mqs[2].sequence(ts), mqs[3].sequence(ts)
    y1 = y_seq.turn()
    go.set()
    probe.join(timeout=20)
    assert out[0].status == "done"
    y = y1 if y1.won else y_seq.turn()
    assert y.won
    assert z_seq.turn().status == "lost"  # one at a time: A's late unpin freed nothing of Y's
    y.done()
    z = z_seq.turn()
    assert z.won
    z.done()


def test_takeovers_of_two_messages_in_one_thread_do_not_mix(ws16):
    """Conversations.replies gives the whole thread for a reply's ts, so a takeover of one
    message sees the bids about its neighbours: two steps of a scene, say, pinned by one
    worker in the same second. Each message still gets exactly one winner."""
    mqs = workers(ws16, 5)
    for _attempt in range(5):
        parent = ws16.post("scene night")
        one = ws16.post("step one", thread_ts=parent)
        two = ws16.post("step two", thread_ts=parent)
        assert mqs[0].claim(one).won and mqs[0].claim(two).won  # ... and the worker dies
        h1, h2 = mqs[1].holder(one), mqs[1].holder(two)
        if about(h1) == about(h2):  # the same `of <user>@<second>`: the case to show
            break
    else:
        raise AssertionError("could not pin two messages in one second")
    wait_until(lambda: mqs[1].stale(one) and mqs[1].stale(two), timeout=5,
               what="both pins to go stale")
    first = race([lambda m=m: m.take_over(one, idempotent=True).status for m in mqs[1:3]])
    assert sorted(first) == ["lost", "won"], first
    second = race([lambda m=m: m.take_over(two, idempotent=True).status for m in mqs[3:5]])
    assert sorted(second) == ["lost", "won"], second
