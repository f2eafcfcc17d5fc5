"""Only already_pinned means taken: 429 waits, transient errors retry, the rest raise."""

from __future__ import annotations

import socket
import time

import pytest
from slackmq_helpers import make_mq

from slackmq import (
    RetryDeadlineExceeded,
    SlackMQ,
    SlackMQAPIError,
    SlackMQAuthError,
    SlackMQConfigError,
    SlackMQError,
    SlackMQRateLimited,
    SlackMQTimeout,
    SlackMQUnavailable,
    slackmq,
)
from troupe.sim.slack import SlackWorkspace


def n_calls(ws, i, method):
    return ws.call_counts().get(ws.apps[i]["name"], {}).get(method, 0)


def test_ratelimited_429_waits_retry_after_then_wins(ws):
    mq = make_mq(ws, 0)
    ts = ws.post("toggle a")
    ws.fail_method("pins.add", mode="error", error="ratelimited", count=1)
    t0 = time.monotonic()
    claim = mq.claim(ts)
    assert claim.won
    assert time.monotonic() - t0 >= 0.95  # the emulator says Retry-After: 1
    assert n_calls(ws, 0, "pins.add") == 2


def test_429_past_the_deadline_raises_not_lost(ws):
    mq = make_mq(ws, 0, deadline=0.5)
    ts = ws.post("toggle b")
    ws.fail_method("pins.add", mode="error", error="ratelimited", count=5)
    with pytest.raises(SlackMQRateLimited) as ei:
        mq.claim(ts)
    assert isinstance(ei.value, RetryDeadlineExceeded) and ei.value.method == "pins.add"


def test_real_rate_limiter_429_is_waited_out():
    """rate_limits on: pins.add is Tier 2 (burst 20); the 21st claim waits, it is not dropped."""
    with SlackWorkspace(apps=1, rate_limits="real", latency_ms=0) as ws:
        mq = make_mq(ws, 0, deadline=15)
        won = 0
        for i in range(21):
            ts = ws.post(f"toggle {i}")
            if mq.claim(ts).won:
                won += 1
        assert won == 21
        assert n_calls(ws, 0, "pins.add") >= 22  # at least one answered 429 and was retried


def test_5xx_retries_then_wins(ws):
    mq = make_mq(ws, 0)
    ts = ws.post("toggle c")
    ws.fail_method("pins.add", mode="5xx", count=2)
    ws.fail_method("reactions.get", mode="5xx", count=1)
    assert mq.claim(ts).won
    assert n_calls(ws, 0, "pins.add") == 3


def test_5xx_until_the_deadline_raises_unavailable(ws):
    mq = make_mq(ws, 0, deadline=1.0)
    ts = ws.post("toggle d")
    ws.fail_method("pins.add", mode="5xx", count=1000)
    t0 = time.monotonic()
    with pytest.raises(SlackMQUnavailable):
        mq.claim(ts)
    assert time.monotonic() - t0 < 3
    assert n_calls(ws, 0, "pins.add") >= 2


def test_hang_once_is_retried(ws):
    mq = make_mq(ws, 0, deadline=5, call_timeout=1)
    ts = ws.post("toggle e")
    ws.fail_method("pins.add", mode="hang", count=1)
    claim = mq.claim(ts)
    assert claim.won  # the hung attempt never reached the model, the retry pinned it


def test_cut_off_raises_timeout_at_the_deadline(ws):
    mq = make_mq(ws, 0, deadline=2.5, call_timeout=1)
    ts = ws.post("toggle f")
    ws.cut_off(ws.apps[0]["name"])
    try:
        t0 = time.monotonic()
        with pytest.raises(SlackMQTimeout):
            mq.claim(ts)
        assert 2 <= time.monotonic() - t0 < 5
    finally:
        ws.restore(ws.apps[0]["name"])
    assert mq.claim(ts).won  # nothing was pinned while cut off


def test_connection_refused_raises_unavailable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    url = f"http://127.0.0.1:{port}/api/"
    mq = SlackMQ(channel="C1", token="xoxb-x", base_url=url, deadline=0.5)
    with pytest.raises(SlackMQUnavailable):
        mq.claim("1.000001")


def test_auth_config_and_unknown_errors_raise_at_once(ws):
    ts = ws.post("toggle g")
    bad = SlackMQ(channel=ws.channel_id, token="xoxb-nope", base_url=ws.api_url)
    t0 = time.monotonic()
    with pytest.raises(SlackMQAuthError) as ei:
        bad.claim(ts)
    assert ei.value.error == "invalid_auth"
    with pytest.raises(SlackMQConfigError) as ei2:
        make_mq(ws, 0).__class__(
            channel="CNOPE", token=ws.apps[0]["bot_token"], base_url=ws.api_url
        ).claim(ts)
    assert ei2.value.error == "channel_not_found"
    ws.fail_method("pins.add", mode="error", error="missing_scope", count=1)
    before = n_calls(ws, 0, "pins.add")
    with pytest.raises(SlackMQConfigError):
        make_mq(ws, 0).claim(ts)
    assert n_calls(ws, 0, "pins.add") == before + 1  # no retry
    ws.fail_method("pins.add", mode="error", error="something_new", count=1)
    with pytest.raises(SlackMQAPIError):
        make_mq(ws, 0).claim(ts)
    assert time.monotonic() - t0 < 1
    assert make_mq(ws, 0).claim(ts).won  # nothing was left pinned by the failures


def test_finishing_retries_the_marker_and_unpin(ws):
    a, b = make_mq(ws, 0), make_mq(ws, 1)
    ts = ws.post("toggle h")
    claim = a.claim(ts)
    ws.fail_method("reactions.add", mode="5xx", count=1)
    ws.fail_method("pins.remove", mode="hang", count=1)
    a2 = make_mq(ws, 0, call_timeout=1)
    claim.mq = a2  # same app, a client with a 1 s timeout for the hang
    claim.done()
    assert [r["name"] for r in ws.reactions(ts)] == ["white_check_mark"]
    assert ws.pins() == []
    assert b.claim(ts).status == "done"


def test_old_api_raises_instead_of_returning_false(ws):
    ts = ws.post("toggle i")
    post = slackmq("xoxb-nope", ws.channel_id, ts, base_url=ws.api_url)
    with pytest.raises(SlackMQError):
        post.ack()
    ws.fail_method("pins.add", mode="error", error="ratelimited", count=1)
    post = slackmq(ws.apps[0]["bot_token"], ws.channel_id, ts, base_url=ws.api_url)
    assert post.ack() is True  # the 429 was waited out, not read as "taken"
