"""Conformance: Slack's own Bolt for Python, in Socket Mode (the builtin slack_sdk client,
the one Troupe uses), against the emulator: a message listener answering with `say` in a
thread, pins, reactions, `pin_added` and `reaction_added` events, paging with a cursor."""

from __future__ import annotations

import threading

import pytest
from sim_helpers import wait_for
from slack_sdk import WebClient

from troupe.sim.slack import SlackWorkspace

slack_bolt = pytest.importorskip("slack_bolt")
from slack_bolt import App  # noqa: E402
from slack_bolt.adapter.socket_mode import SocketModeHandler  # noqa: E402


@pytest.fixture
def bolt_ws():
    # Slack's real rate limits: Bolt's own calls (auth.test, apps.connections.open) pass.
    with SlackWorkspace(apps=1, rate_limits="real") as ws:
        yield ws


def test_bolt_app_in_socket_mode(bolt_ws):
    ws = bolt_ws
    pi = ws.app("pi-1")
    app = App(client=WebClient(token=pi["bot_token"], base_url=ws.api_url))
    seen: dict[str, list[dict]] = {"pin_added": [], "reaction_added": []}
    lock = threading.Lock()

    @app.message("hello")
    def greet(message, say, client):
        client.pins_add(channel=message["channel"], timestamp=message["ts"])
        client.reactions_add(channel=message["channel"], timestamp=message["ts"], name="eyes")
        say(text=f"hi <@{message['user']}>", thread_ts=message["ts"])

    @app.event("pin_added")
    def pinned(event):
        with lock:
            seen["pin_added"].append(event)

    @app.event("reaction_added")
    def reacted(event):
        with lock:
            seen["reaction_added"].append(event)

    handler = SocketModeHandler(app, pi["app_token"])
    handler.connect()
    try:
        wait_for(lambda: ws.connections("pi-1") == 1, what="Bolt to connect")
        ts = ws.post("hello there")
        reply = wait_for(lambda: ws.messages(thread_ts=ts), 10, "Bolt's answer")[0]
        assert reply["text"] == f"hi <@{ws.user['id']}>" and reply["bot_id"] == pi["bot_id"]
        assert [p["message"]["ts"] for p in ws.pins()] == [ts]
        assert [r["name"] for r in ws.reactions(ts)] == ["eyes"]

        # Another member pins and reacts to Bolt's answer: Bolt hears both events (its own
        # pin and reaction it ignores, as it ignores its own events on Slack).
        person = WebClient(token=ws.user["token"], base_url=ws.api_url)
        person.pins_add(channel=ws.channel_id, timestamp=reply["ts"])
        person.reactions_add(channel=ws.channel_id, timestamp=reply["ts"], name="+1")
        wait_for(lambda: seen["pin_added"] and seen["reaction_added"], 10, "both events")
        assert seen["pin_added"][0]["item"]["message"]["ts"] == reply["ts"]
        assert seen["reaction_added"][0]["reaction"] == "+1"
        assert seen["reaction_added"][0]["item"]["ts"] == reply["ts"]

        # Paging through the channel with Bolt's client and a cursor.
        for n in range(5):
            ws.post(f"page {n}")
        texts, cursor = [], None
        while True:
            page = app.client.conversations_history(channel=ws.channel_id, limit=2,
                                                    cursor=cursor)
            texts += [m["text"] for m in page["messages"]]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        assert texts == [f"page {n}" for n in reversed(range(5))] + ["hello there"]
    finally:
        handler.client.auto_reconnect_enabled = False
        ws.close_connections("pi-1")
        handler.close()


def test_bolt_buttons_and_home_tab(bolt_ws):
    """Issue 15: Bolt's own action and app_home_opened listeners read the emulator's
    block_actions payloads (message and Home tab) and app_home_opened events, ack them,
    update the message in place and publish the Home view."""
    ws = bolt_ws
    pi = ws.app("pi-1")
    app = App(client=WebClient(token=pi["bot_token"], base_url=ws.api_url))
    panel = [{"type": "section", "block_id": "title", "text": {"type": "mrkdwn", "text": "off"}},
             {"type": "actions", "block_id": "buttons", "elements": [
                 {"type": "button", "action_id": "toggle", "value": "toggle dining light",
                  "text": {"type": "plain_text", "text": "Toggle"}}]}]
    clicks: list[dict] = []

    @app.action("toggle")
    def toggle(ack, body, action, client):
        ack()
        clicks.append(body)
        if body["container"]["type"] == "message":
            client.chat_update(channel=body["channel"]["id"], ts=body["message"]["ts"],
                               text="on", blocks=[{**panel[0], "text": {
                                   "type": "mrkdwn", "text": f"on, by <@{body['user']['id']}>"}},
                                   panel[1]])

    @app.event("app_home_opened")
    def home(event, client):
        client.views_publish(user_id=event["user"], view={"type": "home", "blocks": panel})

    handler = SocketModeHandler(app, pi["app_token"])
    handler.connect()
    try:
        wait_for(lambda: ws.connections("pi-1") == 1, what="Bolt to connect")
        ts = app.client.chat_postMessage(channel=ws.channel_id, text="off", blocks=panel)["ts"]
        assert ws.click(ts, "toggle")["delivered"]
        wait_for(lambda: ws.messages()[-1]["text"] == "on", 10, "Bolt's update in place")
        assert clicks[0]["actions"][0]["value"] == "toggle dining light"
        assert ws.messages()[-1]["blocks"][0]["text"]["text"] == f"on, by <@{ws.user['id']}>"
        view = ws.open_home("pi-1")
        assert [b["block_id"] for b in view["blocks"]] == ["title", "buttons"]
        ws.click_home("pi-1", "toggle")
        wait_for(lambda: len(clicks) == 2, 10, "the Home tab's click")
        assert clicks[1]["view"]["id"] == view["id"]
        # Acknowledged: nothing left to redeliver.
        wait_for(lambda: not ws.apps_status()[0]["pending_envelopes"], 10, "Bolt's acks")
    finally:
        handler.client.auto_reconnect_enabled = False
        ws.close_connections("pi-1")
        handler.close()
