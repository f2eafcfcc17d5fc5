"""Socket Mode against the real builtin slack_sdk SocketModeClient."""

from __future__ import annotations

import json

from aiohttp import WSMsgType
from sim_helpers import wait_for
from slack_sdk import WebClient


def test_person_message_reaches_every_app_once(ws, listen):
    listeners = [listen(f"pi-{n}") for n in (1, 2, 3)]
    ts = ws.post("toggle dining light")
    for listener in listeners:
        wait_for(lambda lst=listener: lst.messages("toggle dining light"), what="the message")
    # Every envelope has been acknowledged, so nothing more may arrive.
    wait_for(lambda: all(not a["pending_envelopes"] for a in ws.apps_status()), what="acks")
    for listener in listeners:
        got = listener.messages("toggle dining light")
        assert len(got) == 1
        event = got[0]
        assert event["ts"] == ts and event["event_ts"] == ts
        assert event["user"] == ws.user["id"]
        assert event["channel"] == ws.channel_id
        assert event["channel_type"] == "channel" and event["team"] == ws.team_id
        req = listener.requests[-1]
        assert req.retry_attempt == 0
        assert req.payload["type"] == "event_callback"
        assert {"event_id", "event_time", "api_app_id", "team_id"} <= set(req.payload)


def test_bot_message_event_and_own_messages(ws, listen, client):
    me, other = listen("pi-1"), listen("pi-2")
    client.chat_postMessage(
        channel=ws.channel_id,
        text="done",
        metadata={"event_type": "troupe_done", "event_payload": {"ok": 1}},
    )
    for listener in (me, other):
        event = wait_for(lambda lst=listener: lst.messages("done"), what="bot message")[0]
        app = ws.app("pi-1")
        assert event["bot_id"] == app["bot_id"] and event["app_id"] == app["app_id"]
        assert event["user"] == app["bot_user_id"]
        assert event["bot_profile"]["app_id"] == app["app_id"]
        assert event["metadata"]["event_type"] == "troupe_done"


def test_pin_and_reaction_events(ws, listen, client):
    listener = listen("pi-2")
    ts = ws.post("lock me")
    client.pins_add(channel=ws.channel_id, timestamp=ts)
    client.reactions_add(channel=ws.channel_id, timestamp=ts, name="white_check_mark")
    client.reactions_remove(channel=ws.channel_id, timestamp=ts, name="white_check_mark")
    client.pins_remove(channel=ws.channel_id, timestamp=ts)
    kinds = ["pin_added", "reaction_added", "reaction_removed", "pin_removed"]
    wait_for(lambda: all(listener.events(k) for k in kinds), what="all four events")
    pin = listener.events("pin_added")[0]
    assert pin["channel_id"] == ws.channel_id and pin["user"] == ws.app("pi-1")["bot_user_id"]
    assert pin["item"]["type"] == "message" and pin["item"]["message"]["ts"] == ts
    assert isinstance(pin["item"]["created"], int) and pin["item"]["created_by"]
    reaction = listener.events("reaction_added")[0]
    assert reaction["reaction"] == "white_check_mark"
    assert reaction["item"] == {"type": "message", "channel": ws.channel_id, "ts": ts}
    assert reaction["item_user"] == ws.user["id"]


def test_update_and_delete_events(ws, listen, client):
    listener = listen("pi-3")
    ts = client.chat_postMessage(channel=ws.channel_id, text="v1")["ts"]
    client.chat_update(channel=ws.channel_id, ts=ts, text="v2")
    client.chat_delete(channel=ws.channel_id, ts=ts)
    def subtyped():
        return [e for e in listener.events("message") if e.get("subtype")]

    wait_for(lambda: len(subtyped()) >= 2, what="changed and deleted")
    events = subtyped()
    changed, deleted = events[0], events[1]
    assert changed["subtype"] == "message_changed" and changed["message"]["text"] == "v2"
    assert changed["previous_message"]["text"] == "v1"
    assert deleted["subtype"] == "message_deleted" and deleted["deleted_ts"] == ts


def test_unacknowledged_envelope_is_retried(ws, listen):
    silent = listen("pi-1", ack=False)
    ws.post("anyone there?")
    wait_for(lambda: len(silent.messages("anyone there?")) >= 2, what="a redelivery")
    first, second = silent.requests[0], silent.requests[1]
    assert first.envelope_id == second.envelope_id
    assert first.retry_attempt == 0
    assert second.retry_attempt == 1 and second.retry_reason == "timeout"


def test_one_connection_of_several_gets_each_event(ws, listen):
    a, b = listen("pi-1"), listen("pi-1")
    assert ws.connections("pi-1") == 2
    texts = [f"m{n}" for n in range(6)]
    for text in texts:
        ws.post(text)
    for text in texts:
        wait_for(lambda t=text: a.messages(t) or b.messages(t), what=text)
    for text in texts:
        assert len(a.messages(text)) + len(b.messages(text)) == 1
    assert a.events() and b.events()  # round robin uses both


def test_cut_off_app_gets_events_after_restore(ws, listen):
    listener = listen("pi-2")
    other = listen("pi-3")
    ws.cut_off("pi-2")
    ws.post("while you were out")
    wait_for(lambda: other.messages("while you were out"), what="the other app's copy")
    assert not listener.messages("while you were out")
    ws.restore("pi-2")
    wait_for(lambda: listener.messages("while you were out"), what="held event after restore")
    ws.post("welcome back")
    wait_for(lambda: listener.messages("welcome back"), what="a new event after restore")


def test_cut_off_app_calls_hang(ws):
    web = WebClient(token=ws.app("pi-1")["bot_token"], base_url=ws.api_url, timeout=0.5)
    ws.cut_off("pi-1")
    try:
        web.auth_test()
    except Exception as exc:  # urllib's timeout
        assert "timed out" in str(exc).lower()
    else:
        raise AssertionError("a cut-off app's call returned")
    ws.restore("pi-1")
    assert web.auth_test()["ok"]


def test_disconnect_message_and_reconnect(ws, listen):
    listener = listen("pi-1")
    assert ws.close_connections("pi-1", disconnect="refresh_requested") == 1
    wait_for(lambda: ws.connections("pi-1") == 1, what="the client to reconnect")
    ws.post("after refresh")
    wait_for(lambda: listener.messages("after refresh"), what="event on the new connection")


def test_abrupt_close_and_reconnect(ws, listen):
    listener = listen("pi-1")
    ws.close_connections("pi-1")
    ws.post("after drop")
    wait_for(lambda: listener.messages("after drop"), timeout=10, what="event after reconnect")


def test_hello_ping_and_garbage(ws):
    import asyncio

    import aiohttp

    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            opened = await session.post(
                ws.api_url + "apps.connections.open",
                headers={"Authorization": "Bearer " + ws.app("pi-1")["app_token"]},
            )
            url = (await opened.json())["url"]
            assert url.startswith("ws://127.0.0.1:")
            async with session.ws_connect(url, autoping=False) as sock:
                hello = json.loads((await sock.receive(timeout=5)).data)
                assert hello["type"] == "hello" and hello["num_connections"] == 1
                assert hello["connection_info"]["app_id"] == ws.app("pi-1")["app_id"]
                await sock.ping(b"x1")
                pong = await sock.receive(timeout=5)
                assert pong.type == WSMsgType.PONG and pong.data == b"x1"
                await sock.send_str("{not json")
                await sock.send_str('{"envelope_id": 12}')
                await sock.send_str("[]")
                await sock.ping(b"x2")
                assert (await sock.receive(timeout=5)).data == b"x2"  # still serving
                await sock.send_bytes(b"\x00\x01")
                closed = await sock.receive(timeout=5)
                assert closed.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
            bad = await session.get(url.replace("ticket=", "ticket=nope"))
            assert bad.status in (400, 401)

    asyncio.run(scenario())
    assert WebClient(token=ws.user["token"], base_url=ws.api_url).auth_test()["ok"]


def test_duplicates_and_delay(ws, listen):
    listener = listen("pi-1")
    ws.duplicate_events(True)
    ws.post("twice")
    wait_for(lambda: len(listener.messages("twice")) == 2, what="two copies")
    ws.duplicate_events(False)
    ws.set_event_delay(300)
    ws.post("late")
    wait_for(lambda: listener.messages("late"), what="the delayed event")
    log = ws.log()["deliveries"]
    assert any(d["outcome"] == "acked" and d["app"] == "pi-1" for d in log)
