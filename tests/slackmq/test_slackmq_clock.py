"""Slack's clock, learnt from the Date of Slack's answers: ages and leases do not depend
on a worker's own clock (issue 19 case 6)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from slackmq_helpers import make_mq

SKEW = 360.0  # a worker whose clock runs 6 minutes fast


def fast_clock() -> float:
    return time.time() + SKEW


def test_a_worker_learns_how_far_its_clock_is_from_slacks(ws):
    mq = make_mq(ws, 0, clock=fast_clock)
    assert mq.clock.offset() is None  # nothing learnt before Slack answers
    assert mq.user_id  # one auth.test
    lo, hi = mq.clock.bounds()
    assert lo <= -SKEW + 0.5 and hi >= -SKEW - 0.5 and hi - lo <= 1.5, (lo, hi)
    assert abs(mq.clock.now() - time.time()) < 1.5  # the emulator runs on the real clock


TAKER = """
import json, sys, time
_real = time.time
time.time = lambda: _real() + float(sys.argv[5])  # this process's clock runs fast
from slackmq import SlackMQ
api, token, channel, ts = sys.argv[1:5]
mq = SlackMQ(channel=channel, token=token, base_url=api, lease=30, deadline=5)
print(json.dumps({"stale": mq.stale(ts) is not None,
                  "take_over": mq.take_over(ts, idempotent=False).status,
                  "stale_claims": len(mq.stale_claims())}))
"""


def test_a_worker_with_a_fast_clock_does_not_take_a_fresh_pin_for_a_stale_one(ws):
    """A taker process whose clock runs 6 minutes fast: by its own clock the pin is 6
    minutes old, by Slack's a moment. No takeover reply, no takeover."""
    holder = make_mq(ws, 0, lease=30)
    ts = ws.post("toggle skew")
    assert holder.claim(ts).won
    app = ws.apps[1]
    out = subprocess.run(
        [sys.executable, "-c", TAKER, ws.api_url, app["bot_token"], ws.channel_id, ts,
         str(SKEW)], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == {"stale": False, "take_over": "lost", "stale_claims": 0}
    assert [m for m in ws.messages(thread_ts=ts) if m["ts"] != ts] == []
