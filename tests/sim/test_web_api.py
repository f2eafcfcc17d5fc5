"""Web API behaviour with the real slack_sdk WebClient: messages, pins, reactions,
threads, pagination, rate limits, faults and bad input."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from sim_helpers import wait_for
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from troupe.sim.slack import SlackWorkspace


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(SlackApiError) as info:
        fn(*args, **kwargs)
    return info.value.response["error"]


def raw(url: str, body: bytes, ctype: str, token: str | None = None) -> tuple[int, dict, dict]:
    headers = {"Content-Type": ctype}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"{}")


def test_second_pin_is_already_pinned(ws, client):
    other = WebClient(token=ws.app("pi-2")["bot_token"], base_url=ws.api_url)
    ts = ws.post("toggle dining light")
    assert client.pins_add(channel=ws.channel_id, timestamp=ts)["ok"]
    assert error_of(other.pins_add, channel=ws.channel_id, timestamp=ts) == "already_pinned"
    items = other.pins_list(channel=ws.channel_id)["items"]
    assert [i["message"]["ts"] for i in items] == [ts]
    assert items[0]["created_by"] == ws.app("pi-1")["bot_user_id"]
    assert isinstance(items[0]["created"], int)
    assert other.pins_remove(channel=ws.channel_id, timestamp=ts)["ok"]
    assert error_of(other.pins_remove, channel=ws.channel_id, timestamp=ts) == "no_pin"
    assert error_of(client.pins_add, channel=ws.channel_id, timestamp="1.5") == "message_not_found"
    assert error_of(client.pins_add, channel=ws.channel_id, timestamp="x") == "bad_timestamp"


def test_reactions_are_per_user(ws, client):
    other = WebClient(token=ws.app("pi-2")["bot_token"], base_url=ws.api_url)
    ts = ws.post("hi")
    client.reactions_add(channel=ws.channel_id, timestamp=ts, name="eyes")
    other.reactions_add(channel=ws.channel_id, timestamp=ts, name=":eyes:")
    assert (
        error_of(client.reactions_add, channel=ws.channel_id, timestamp=ts, name="eyes")
        == "already_reacted"
    )
    got = client.reactions_get(channel=ws.channel_id, timestamp=ts)["message"]["reactions"]
    assert got == [
        {
            "name": "eyes",
            "users": [ws.app("pi-1")["bot_user_id"], ws.app("pi-2")["bot_user_id"]],
            "count": 2,
        }
    ]
    assert ws.reactions(ts)[0]["count"] == 2
    client.reactions_remove(channel=ws.channel_id, timestamp=ts, name="eyes")
    assert (
        error_of(client.reactions_remove, channel=ws.channel_id, timestamp=ts, name="eyes")
        == "no_reaction"
    )


def test_threads_history_and_pagination(ws, client, person):
    parent = ws.post("parent")
    r1 = ws.post("r1", thread_ts=parent)
    r2 = client.chat_postMessage(channel=ws.channel_id, text="r2", thread_ts=parent)["ts"]
    stamps = [ws.post(f"m{n}") for n in range(5)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 5
    assert all(len(s.split(".")[1]) == 6 for s in stamps)
    thread = person.conversations_replies(channel=ws.channel_id, ts=parent)["messages"]
    assert [m["ts"] for m in thread] == [parent, r1, r2]
    assert thread[0]["reply_count"] == 2 and thread[0]["latest_reply"] == r2
    assert thread[1]["thread_ts"] == parent
    seen, cursor = [], None
    while True:
        page = client.conversations_history(channel=ws.channel_id, limit=2, cursor=cursor)
        seen += [m["ts"] for m in page["messages"]]
        if not page["has_more"]:
            break
        cursor = page["response_metadata"]["next_cursor"]
    assert seen == list(reversed([parent] + stamps))  # newest first, no replies
    window = client.conversations_history(
        channel=ws.channel_id, oldest=stamps[1], latest=stamps[3], inclusive=True
    )["messages"]
    assert [m["ts"] for m in window] == [stamps[3], stamps[2], stamps[1]]
    assert ws.messages(thread_ts=parent)[-1]["ts"] == r2
    assert (
        error_of(client.conversations_history, channel=ws.channel_id, cursor="bogus")
        == "invalid_cursor"
    )


def test_update_delete_and_ownership(ws, client):
    other = WebClient(token=ws.app("pi-2")["bot_token"], base_url=ws.api_url)
    ts = client.chat_postMessage(channel=ws.channel_id, text="a")["ts"]
    assert error_of(other.chat_update, channel=ws.channel_id, ts=ts, text="b") == (
        "cant_update_message"
    )
    assert client.chat_update(channel=ws.channel_id, ts=ts, text="b")["text"] == "b"
    client.chat_delete(channel=ws.channel_id, ts=ts)
    assert ws.messages() == []


def test_scheduled_message_is_posted(ws, client):
    post_at = int(time.time()) + 1
    sched = client.chat_scheduleMessage(channel=ws.channel_id, text="tick", post_at=post_at)
    listed = client.chat_scheduledMessages_list(channel=ws.channel_id)["scheduled_messages"]
    assert [s["id"] for s in listed] == [sched["scheduled_message_id"]]
    msg = wait_for(lambda: [m for m in ws.messages() if m["text"] == "tick"], what="post")[0]
    assert msg["bot_id"] == ws.app("pi-1")["bot_id"]
    assert client.chat_scheduledMessages_list()["scheduled_messages"] == []


def test_membership_join_and_directory(ws, client, person):
    general = next(c for c in person.conversations_list()["channels"] if c["name"] == "general")
    assert error_of(client.chat_postMessage, channel=general["id"], text="x") == "not_in_channel"
    joined = client.conversations_join(channel=general["id"])
    assert joined["channel"]["is_member"] and "warning" not in joined.data
    assert client.chat_postMessage(channel="#general", text="x")["ok"]
    members = client.conversations_members(channel=ws.channel_id)["members"]
    assert ws.user["id"] in members and len(members) == 4
    mallory = ws.add_user("mallory")
    assert mallory["id"] in client.conversations_members(channel=ws.channel_id)["members"]
    ws.post("from mallory", user="mallory")
    assert ws.messages()[-1]["user"] == mallory["id"]
    bot = client.bots_info(bot=ws.app("pi-3")["bot_id"])["bot"]
    assert bot["user_id"] == ws.app("pi-3")["bot_user_id"]
    assert client.users_info(user=ws.app("pi-3")["bot_user_id"])["user"]["is_bot"]
    assert client.auth_test()["bot_id"] == ws.app("pi-1")["bot_id"]


def test_tokens_and_bad_input(ws):
    url = ws.api_url
    app_token = ws.app("pi-1")["app_token"]
    bot = ws.app("pi-1")["bot_token"]
    assert error_of(WebClient(token=app_token, base_url=url).auth_test) == (
        "not_allowed_token_type"
    )
    form = "application/x-www-form-urlencoded"
    status, _, body = raw(url + "nope.nothing", b"", form, bot)
    assert (status, body["error"]) == (200, "unknown_method")
    status, _, body = raw(url + "auth.test", b"{nope", "application/json", bot)
    assert (status, body["error"]) == (200, "invalid_json")
    status, _, body = raw(url + "auth.test", b"[1]", "application/json", bot)
    assert body["error"] == "json_not_object"
    status, _, body = raw(url + "auth.test", f"token={bot}".encode(), form)
    assert body["ok"]  # token as a form field
    status, _, body = raw(url + "chat.postMessage", b"\xff\xfe=1", form, bot)
    assert body["error"] == "invalid_charset"
    status, _, body = raw(url + "chat.postMessage", b"x" * (3 * 1024 * 1024), form, bot)
    assert status == 413 and body["ok"] is False
    status, _, body = raw(
        url + "chat.postMessage",
        json.dumps({"channel": ["x"], "text": 5}).encode(),
        "application/json",
        bot,
    )
    assert body["ok"] is False
    status, _, body = raw(url + "chat.postMessage", b"channel=&text=", form, bot)
    assert body["error"] == "channel_not_found"
    status, _, body = raw(
        url + "conversations.history", f"channel={ws.channel_id}&limit=abc".encode(), form, bot
    )
    assert body["error"] == "invalid_arguments"
    assert WebClient(token=bot, base_url=url).auth_test()["ok"]  # still serving


def test_rate_limit_429_and_retry_handler():
    with SlackWorkspace(apps=1, rate_limits="real") as ws:
        token = ws.app("pi-1")["bot_token"]
        bare = WebClient(token=token, base_url=ws.api_url)
        statuses = []
        for n in range(8):
            try:
                bare.chat_postMessage(channel=ws.channel_id, text=f"burst {n}")
                statuses.append(200)
            except SlackApiError as err:
                statuses.append(err.response.status_code)
                assert err.response["error"] == "ratelimited"
                assert int(err.response.headers["Retry-After"]) >= 1
        assert 200 in statuses and 429 in statuses
        patient = WebClient(token=token, base_url=ws.api_url)
        patient.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
        assert patient.chat_postMessage(channel=ws.channel_id, text="patient")["ok"]
        # pins.list is Tier 2: 20 pass in a burst, then 429.
        ts = ws.post("pin")
        results = []
        for _ in range(22):
            try:
                bare.pins_list(channel=ws.channel_id)
                results.append("ok")
            except SlackApiError as err:
                results.append(err.response["error"])
        assert results[:20] == ["ok"] * 20 and results[-1] == "ratelimited"
        assert ts


def test_fail_method_modes(ws, client):
    ts = ws.post("x")
    ws.fail_method("pins.add", mode="error", error="fatal_error", count=2)
    assert error_of(client.pins_add, channel=ws.channel_id, timestamp=ts) == "fatal_error"
    assert error_of(client.pins_add, channel=ws.channel_id, timestamp=ts) == "fatal_error"
    assert client.pins_add(channel=ws.channel_id, timestamp=ts)["ok"]
    ws.fail_method("pins.list", mode="5xx", app="pi-1")
    with pytest.raises(SlackApiError) as info:
        client.pins_list(channel=ws.channel_id)
    assert info.value.response.status_code == 500
    ws.fail_method("auth.test", mode="hang")
    quick = WebClient(token=ws.app("pi-1")["bot_token"], base_url=ws.api_url, timeout=0.3)
    with pytest.raises(Exception, match="(?i)timed out"):
        quick.auth_test()
    ws.fail_method("reactions.add", mode="error", error="ratelimited")
    with pytest.raises(SlackApiError) as info:
        client.reactions_add(channel=ws.channel_id, timestamp=ts, name="x")
    assert info.value.response.status_code == 429
    ws.set_latency(50)
    start = time.monotonic()
    client.auth_test()
    assert time.monotonic() - start >= 0.05
    ws.set_latency(0)
    counts = ws.call_counts()["pi-1"]
    assert counts["pins.add"] == 3 and counts["auth.test"] >= 2
    calls = ws.log()["calls"]
    assert calls[0]["method"] == "pins.add" and calls[0]["result"] == "fault:error:fatal_error"
