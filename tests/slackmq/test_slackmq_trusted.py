"""Whose takeover bids count (issue 12): a bid counts only as its own poster's, and, with a
`trusted` predicate, only from trusted users; another app in the channel cannot win a
takeover election, nor bid in a worker's name."""

from __future__ import annotations

from slackmq_helpers import client, make_mq, wait_until

from slackmq import Holder, elect

LEASE = 1.0


def test_a_bid_counts_only_as_its_posters():
    h = Holder("UHOLD", 100.0, "100.000001")
    forged = {"ts": "100.5", "user": "UOTHER", "text": "slackmq-takeover UHOLD of UHOLD@100"}
    assert elect([forged], h, 10) is None  # the holder's name, another's message: no bid
    own = {**forged, "user": "UHOLD"}
    assert elect([forged, own], h, 10) == "100.5"


def test_an_untrusted_app_cannot_win_a_takeover(ws):
    holder = make_mq(ws, 0, lease=LEASE)
    workers = {holder.user_id}
    taker = make_mq(ws, 1, lease=LEASE, trusted=lambda user: user in workers)
    workers.add(taker.user_id)
    stranger = client(ws, 2)
    ts = ws.post("toggle lamp")
    assert holder.claim(ts).won  # ... and the holder dies
    h = wait_until(lambda: taker.stale(ts), timeout=5, what="the lease to pass")
    me = stranger.auth_test()["user_id"]
    # The stranger bids first, in its own name and in the taker's: both eligible by time.
    for name in (me, taker.user_id):
        stranger.chat_postMessage(channel=ws.channel_id, thread_ts=ts,
                                  text=f"slackmq-takeover {name} of {h.user_id}@{h.since:.0f} "
                                       f"on {ts}")
    claim = taker.take_over(ts, idempotent=False)
    assert claim.won and claim.taken_over
    claim.interrupted()
    assert [r["name"] for r in ws.reactions(ts)] == ["warning"]
