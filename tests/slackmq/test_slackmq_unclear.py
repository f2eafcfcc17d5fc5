"""Unclear answers: the call may have reached Slack but its answer was lost (issue 19).

The lock sends its calls itself, without slack_sdk's retry handlers, and after an
unclear answer reads the pins before deciding. The emulator's ``lost_answer`` fault
applies a call and then answers HTTP 500, as a proxy failing on the way back does.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slackmq_helpers import make_mq, wait_until

from slackmq import SlackMQ, SlackMQError, SlackMQUnavailable


def n_calls(ws, i, method):
    return ws.call_counts().get(ws.apps[i]["name"], {}).get(method, 0)


def retrying_client(ws, i):
    """A client with slack_sdk's retry handlers, as a Pi uses for its other calls."""
    return WebClient(
        token=ws.apps[i]["bot_token"],
        base_url=ws.api_url,
        timeout=2,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=5),
            ConnectionErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=3),
        ],
    )


def test_the_emulator_can_apply_a_call_and_lose_its_answer(ws):
    """fail_method(mode="lost_answer"), in process and over the admin API."""
    c = WebClient(token=ws.apps[0]["bot_token"], base_url=ws.api_url, retry_handlers=[])
    ts = ws.post("lost answers")
    ws.fail_method("pins.add", mode="lost_answer")
    with pytest.raises(SlackApiError) as ei:
        c.pins_add(channel=ws.channel_id, timestamp=ts)
    assert ei.value.response.status_code == 500
    assert [p["message"]["ts"] for p in ws.pins()] == [ts]  # applied all the same
    body = json.dumps({"method": "reactions.add", "mode": "lost_answer"}).encode()
    req = urllib.request.Request(
        ws.admin_url + "fail_method", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        assert json.load(r)["ok"]
    with pytest.raises(SlackApiError) as ei:
        c.reactions_add(channel=ws.channel_id, timestamp=ts, name="eyes")
    assert ei.value.response.status_code == 500
    assert [r["name"] for r in ws.reactions(ts)] == ["eyes"]
    c.pins_remove(channel=ws.channel_id, timestamp=ts)  # the fault was used up: a clear answer


def test_a_lost_answer_to_pins_add_is_our_claim_even_with_a_retrying_client(ws):
    """Case 7: the pin was made, its answer became a 500. The client passed in has
    slack_sdk's retry handlers (which would re-send and get already_pinned); the lock
    sends without them, reads the pins and finds its own pin, made since its first try."""
    a = SlackMQ(client=retrying_client(ws, 0), channel=ws.channel_id, deadline=5)
    b = make_mq(ws, 1)
    ts = ws.post("toggle lost answer")
    ws.fail_method("pins.add", mode="lost_answer", app=ws.apps[0]["name"])
    claim = a.claim(ts)
    assert claim.won, claim
    assert not claim.taken_over
    assert n_calls(ws, 0, "pins.add") == 1  # read, not re-sent
    assert b.claim(ts).status == "lost"
    claim.done()
    assert ws.pins() == []
    assert b.claim(ts).status == "done"


def test_a_restarted_holder_does_not_take_its_old_pin_for_a_new_one(ws):
    """Case 1: a holder pinned, died, and restarted; its first pins.add gets no clear
    answer. Its own user's pin is there, but made before this attempt's first try: a
    claim from its earlier life. It loses (seeing that pin), and the takeover path
    reports a non-idempotent command instead of running it again."""
    before = make_mq(ws, 0, lease=60)
    ts = ws.post("toggle restarted")
    assert before.claim(ts).won  # ... and the process is killed here
    created = ws.pins()[0]["created"]
    # A restart takes seconds; the lock tells pins apart when they are more than 2 s (the
    # whole seconds of `created` and of the Date header) plus a round trip apart.
    wait_until(lambda: time.time() >= created + 3, 5, "a restart's worth of Slack's clock")
    after = make_mq(ws, 0, lease=60)  # same app, new process
    ws.fail_method("pins.add", mode="5xx", app=ws.apps[0]["name"])
    claim = after.claim(ts)
    assert claim.status == "lost", claim
    assert claim.holder_seen is not None and claim.holder_seen.user_id == after.user_id
    again = after.take_over(ts, idempotent=False)
    assert again.won and again.taken_over and again.report_only
    again.mark_interrupted()
    assert [r["name"] for r in ws.reactions(ts)] == ["warning"]
    assert ws.pins() == []


def test_a_lost_answer_to_pins_remove_is_not_resent_over_the_next_turn(ws):
    """Case 2: A's unpin reached Slack, its answer was a 500, and B took its turn at
    once. A slack_sdk retry would re-send the unpin and remove B's pin; the lock reads
    the pins instead, sees B's, and leaves it."""
    a = SlackMQ(client=retrying_client(ws, 0), channel=ws.channel_id, deadline=5)
    b = make_mq(ws, 1)
    ts = ws.post("update all")
    turn = a.sequence(ts).turn()
    assert turn.won
    ws.fail_method("pins.remove", mode="lost_answer", app=ws.apps[0]["name"])
    # A's re-read of the pins hangs once, so B's turn lands before A looks.
    ws.fail_method("pins.list", mode="hang", app=ws.apps[0]["name"])
    a.client.timeout = 1
    done = threading.Thread(target=turn.done)
    done.start()
    wait_until(lambda: not ws.pins(), 5, "A's unpin to land")
    assert b.sequence(ts).turn().won
    done.join(timeout=15)
    assert not done.is_alive()
    pins = ws.pins()
    assert [(p["message"]["ts"], p["created_by"]) for p in pins] == [(ts, b.user_id)]
    assert n_calls(ws, 0, "pins.remove") == 1
    assert n_calls(ws, 0, "pins.list") >= 2  # the hung read, then the one that decided


def test_a_refused_connection_is_not_an_unclear_answer():
    """A call that could not connect never reached Slack: it is retried as it is, not
    followed by a read of the pins (which would fail the same way and hide why)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    url = f"http://127.0.0.1:{port}/api/"
    mq = SlackMQ(channel="C1", token="xoxb-x", base_url=url, deadline=0.3)
    with pytest.raises(SlackMQUnavailable) as ei:
        mq.claim("1.000001")
    assert ei.value.method == "pins.add" and "gave up after" in str(ei.value)


def test_a_takeover_whose_election_reply_lost_its_answer_still_wins(ws):
    """The taker's election reply was posted but its answer lost; the re-sent copy is a
    later reply. The first copy wins the round, and it is the taker's own: it takes over."""
    holder, taker = make_mq(ws, 0, lease=1.0), make_mq(ws, 1, lease=1.0)
    ts = ws.post("toggle election")
    assert holder.claim(ts).won  # ... and the holder dies
    wait_until(lambda: taker.stale(ts), 5, "the lease to pass")
    ws.fail_method("chat.postMessage", mode="lost_answer", app=ws.apps[1]["name"])
    claim = taker.take_over(ts, idempotent=False)
    replies = [m for m in ws.messages(thread_ts=ts) if m["ts"] != ts]
    assert len(replies) == 2  # the lost copy and the re-sent one
    assert claim.won and claim.taken_over and claim.report_only, claim
    claim.mark_interrupted()
    assert ws.pins() == []


def test_a_losing_taker_posts_one_reply_a_round(ws):
    """Case 9: while the round's winner works (alive: it renews its claim), a taker that
    looks reads the thread and posts no reply; once the winner is silent for a lease (on
    Slack's clock) it posts in the next round, and wins it."""
    holder = make_mq(ws, 0, lease=1.0, heartbeat=False)  # cut off: silent
    a, b = make_mq(ws, 1, lease=1.0), make_mq(ws, 2, lease=1.0)
    ts = ws.post("dim lights")
    assert holder.claim(ts).won  # ... and the holder stops answering
    wait_until(lambda: a.stale(ts), 5, "the lease to pass")
    won = a.take_over(ts, idempotent=True)
    assert won.won  # a re-runs it (and is slow about it, renewing its claim)

    def replies_by(mq, tag="slackmq-takeover"):
        return [m for m in ws.messages(thread_ts=ts)
                if m["ts"] != ts and m.get("user") == mq.user_id and m["text"].startswith(tag)]

    wait_until(lambda: replies_by(a, "slackmq-heartbeat"), 5, "a's heartbeat")
    for _ in range(3):
        assert b.take_over(ts, idempotent=True).status == "lost"
    assert len(replies_by(b)) == 0  # the round is decided and its winner alive: no bid
    won.heartbeat.stop()  # a dies too
    last = max(float(m["ts"]) for m in replies_by(a) + replies_by(a, "slackmq-heartbeat"))
    wait_until(lambda: b.clock.surely_past(last + 1.0), 5, "a's round to end")
    again = b.take_over(ts, idempotent=True)  # round 2
    assert again.won, again
    assert len(replies_by(b)) == 1
    again.done()


@pytest.mark.parametrize("again", ["claim", "take_over"])
def test_an_outage_right_after_pinning_does_not_turn_the_claim_into_a_takeover(ws, again):
    """Case 8: pins.add worked, then reactions.get failed past the deadline. The pin is
    this process's own: trying again (a claim, or the takeover a watch would try) goes on
    from it and runs the command, instead of losing to it and reporting it interrupted."""
    a, b = make_mq(ws, 0, deadline=0.5, call_timeout=1), make_mq(ws, 1)
    ts = ws.post("toggle outage")
    ws.fail_method("reactions.get", mode="hang", app=ws.apps[0]["name"])
    with pytest.raises(SlackMQError):
        a.claim(ts)
    assert [p["created_by"] for p in ws.pins()] == [a.user_id]  # the pin stays
    assert b.claim(ts).status == "lost"
    claim = a.claim(ts) if again == "claim" else a.take_over(ts, idempotent=False)
    assert claim.won and not claim.taken_over and not claim.report_only, claim
    assert n_calls(ws, 0, "pins.add") == 1
    assert [m for m in ws.messages(thread_ts=ts) if m["ts"] != ts] == []  # no election
    claim.done()
    assert ws.pins() == [] and [r["name"] for r in ws.reactions(ts)] == ["white_check_mark"]
