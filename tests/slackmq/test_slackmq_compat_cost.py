"""The 0.1 API, the cost in calls and round trips, ambiguous retries.

The benchmark beside slackmq 0.1.2 (bench/lock.py) is tested in tests/test_bench.py.
"""

from __future__ import annotations

import threading
import time

import pytest
from slackmq_helpers import make_mq, wait_until

from slackmq import slackmq


def names(ws, ts):
    return sorted(r["name"] for r in ws.reactions(ts))


def test_old_api_ack_unack(ws16):
    tok = [a["bot_token"] for a in ws16.apps]
    ts = ws16.post("toggle dining light")
    first = slackmq(tok[0], ws16.channel_id, ts, base_url=ws16.api_url)
    second = slackmq(tok[1], ws16.channel_id, ts, base_url=ws16.api_url)
    t0 = time.monotonic()
    assert first.ack(emoji="eyes") is True
    assert second.ack() is False  # another holds it
    assert names(ws16, ts) == ["eyes"]
    assert first.unack(emoji="eyes") is True
    assert time.monotonic() - t0 < 1.0  # 0.1.2 slept 3 s in unack; no sleeps now
    assert names(ws16, ts) == ["white_check_mark"]  # done marker stays, the emoji went
    assert all(p["message"]["ts"] != ts for p in ws16.pins())
    late = slackmq(tok[2], ws16.channel_id, ts, base_url=ws16.api_url)
    assert late.ack() is False  # already done: 0.1.2 would have run it again
    assert late.unack() is False  # not ours: nothing to release


@pytest.mark.filterwarnings("ignore:stars")
def test_old_api_accepts_a_client_and_stars_are_best_effort(ws16):
    from slackmq_helpers import client

    ts = ws16.post("toggle porch light")
    post = slackmq("unused", ws16.channel_id, ts, client=client(ws16, 3))
    assert post.ack(stars=True)  # the emulator (like Slack for bots) has no stars.*
    post.unack(stars=True)
    assert names(ws16, ts) == ["white_check_mark"]


def test_round_trips_at_latency(ws):
    lat = 0.2  # well above scheduling noise on a loaded 2-core machine
    ws.set_latency(int(lat * 1000))
    a, b = make_mq(ws, 0), make_mq(ws, 1)
    _ = a.user_id, b.user_id
    ts = ws.post("toggle lamp")
    t0 = time.perf_counter()
    claim = a.claim(ts)
    t_claim = time.perf_counter() - t0
    t0 = time.perf_counter()
    lost = b.claim(ts)
    t_lost = time.perf_counter() - t0
    t0 = time.perf_counter()
    claim.done()
    t_finish = time.perf_counter() - t0
    assert claim.won and lost.status == "lost"
    assert lost.calls == 1 and 1 * lat <= t_lost < 1.9 * lat  # one round trip
    assert claim.calls == 4  # pins.add + reactions.get + reactions.add + pins.remove
    assert 2 * lat <= t_claim < 2.9 * lat
    assert 2 * lat <= t_finish < 2.9 * lat  # no sleeps anywhere: only the round trips


def test_a_pin_that_landed_before_its_answer_was_lost_is_recognised_as_ours(ws):
    """pins.add times out, but Slack pinned it: pins.list shows our own pin, made since the
    first try, so it is ours (and pins.add is not sent again)."""
    ws.set_latency(1500)
    mq = make_mq(ws, 0, call_timeout=1, deadline=10)
    ts = ws.post("toggle ambiguous")
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("c", mq.claim(ts)))
    t.start()
    wait_until(lambda: ws.pins(), timeout=5, what="the slow pin to land")
    ws.set_latency(0)
    t.join(timeout=15)
    claim = out["c"]
    assert claim.won, claim
    assert claim.calls == 3  # pins.add (timed out), pins.list (ours), reactions.get
    assert make_mq(ws, 1).claim(ts).status == "lost"
    claim.done()
