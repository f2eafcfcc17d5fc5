"""Block Kit on messages, clicks over Socket Mode and the Home tab (issue 15), with real
slack_sdk clients against the emulator."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest
from sim_helpers import wait_for
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

PANEL = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Dining*: off"}},
    {"type": "actions", "block_id": "light:dining", "elements": [
        {"type": "button", "action_id": "toggle", "value": "toggle dining light",
         "text": {"type": "plain_text", "text": "Toggle"}},
        {"type": "button", "action_id": "on", "value": "switch dining on",
         "text": {"type": "plain_text", "text": "On"}},
    ]},
]


def interactions(listener) -> list[dict]:
    with listener.lock:
        return [r for r in listener.requests if r.type == "interactive"]


def test_blocks_are_stored_and_returned(ws, client):
    posted = client.chat_postMessage(channel=ws.channel_id, text="Dining: off", blocks=PANEL)
    blocks = posted["message"]["blocks"]
    assert [b["type"] for b in blocks] == ["section", "actions"]
    assert blocks[1]["block_id"] == "light:dining" and blocks[0]["block_id"]  # Slack fills it
    history = client.conversations_history(channel=ws.channel_id)["messages"]
    assert history[0]["blocks"] == blocks
    # chat.update without blocks keeps them; with new ones replaces them; [] removes them.
    client.chat_update(channel=ws.channel_id, ts=posted["ts"], text="Dining: on")
    assert ws.messages()[-1]["blocks"] == blocks
    client.chat_update(channel=ws.channel_id, ts=posted["ts"], text="x", blocks=PANEL[:1])
    assert [b["type"] for b in ws.messages()[-1]["blocks"]] == ["section"]
    client.chat_update(channel=ws.channel_id, ts=posted["ts"], text="x", blocks=[])
    assert "blocks" not in ws.messages()[-1]


@pytest.mark.parametrize("blocks, error", [
    ("not json", "invalid_blocks_format"),
    ({"type": "section"}, "invalid_blocks_format"),
    ([{"text": "no type"}], "invalid_blocks"),
    ([{"type": "divider"}] * 51, "invalid_blocks"),
    ([{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}],
     "invalid_blocks"),
])
def test_malformed_blocks_are_refused_as_slack_does(ws, client, blocks, error):
    with pytest.raises(SlackApiError) as err:
        client.api_call("chat.postMessage", json={
            "channel": ws.channel_id, "text": "x", "blocks": blocks})
    assert err.value.response["error"] == error


def test_a_click_reaches_only_the_posting_app_and_is_redelivered_until_acked(ws, listen):
    poster = listen("pi-2", ack=False)
    other = listen("pi-1")
    web = WebClient(token=ws.app("pi-2")["bot_token"], base_url=ws.api_url)
    ts = web.chat_postMessage(channel=ws.channel_id, text="Dining: off", blocks=PANEL)["ts"]
    bob = ws.add_user("bob")
    sent = ws.click(ts, "on", user="bob")
    assert sent["app"] == "pi-2"
    got = wait_for(lambda: len(interactions(poster)) >= 2 and interactions(poster),
                   what="the click and its redelivery (no ack)")
    first, again = got[0], got[1]
    assert first.envelope_id == again.envelope_id and first.payload == again.payload
    payload = first.payload
    assert payload["type"] == "block_actions" and payload["api_app_id"] == ws.app("pi-2")["app_id"]
    assert payload["user"]["id"] == bob["id"]
    assert payload["container"] == {"type": "message", "message_ts": ts,
                                    "channel_id": ws.channel_id, "is_ephemeral": False}
    assert payload["channel"]["id"] == ws.channel_id and payload["message"]["ts"] == ts
    action = payload["actions"][0]
    assert action["action_id"] == "on" and action["block_id"] == "light:dining"
    assert action["value"] == "switch dining on" and action["action_ts"] == sent["action_ts"]
    assert not interactions(other)  # Slack sends an interaction to its app only


def test_an_acked_click_is_sent_once_and_value_may_be_given(ws, listen):
    listener = listen("pi-1")
    client = WebClient(token=ws.app("pi-1")["bot_token"], base_url=ws.api_url)
    ts = client.chat_postMessage(channel=ws.channel_id, text="panel", blocks=PANEL)["ts"]
    ws.click(ts, "toggle", value="something else")
    wait_for(lambda: interactions(listener), what="the click")
    wait_for(lambda: not ws.apps_status()[0]["pending_envelopes"], what="pi-1's acks")
    got = interactions(listener)
    assert len(got) == 1 and got[0].payload["actions"][0]["value"] == "something else"
    assert got[0].retry_attempt is None  # only events_api envelopes count attempts


def test_a_click_on_an_app_that_is_not_connected_fails_at_once(ws, client, listen):
    ts = client.chat_postMessage(channel=ws.channel_id, text="panel", blocks=PANEL)["ts"]
    assert ws.click(ts, "toggle")["delivered"] is False  # pi-1 has no connection
    listener = listen("pi-1")  # connecting later does not bring the click back
    assert ws.click(ts, "on")["delivered"] is True
    got = wait_for(lambda: interactions(listener), what="the second click")
    wait_for(lambda: not ws.apps_status()[0]["pending_envelopes"], what="pi-1's acks")
    assert [r.payload["actions"][0]["action_id"] for r in interactions(listener)] == ["on"]
    assert got[0].payload["actions"][0]["action_id"] == "on"
    outcomes = [d["outcome"] for d in ws.log()["deliveries"] if d["envelope"] == "interactive"]
    assert outcomes[0] == "failed:no_connection"


def test_clicking_what_is_not_there_says_what_is(ws, client):
    ts = client.chat_postMessage(channel=ws.channel_id, text="panel", blocks=PANEL)["ts"]
    with pytest.raises(KeyError, match="'toggle', 'on'"):
        ws.click(ts, "nope")
    with pytest.raises(ValueError, match="not posted by an app"):
        ws.click(ws.post("typed"), "toggle")


def test_home_tab_opened_then_published(ws, listen):
    listener = listen("pi-3")
    web = WebClient(token=ws.app("pi-3")["bot_token"], base_url=ws.api_url)

    def serve_home() -> None:
        event = wait_for(lambda: listener.events("app_home_opened"), what="app_home_opened")[0]
        assert event["tab"] == "home"
        web.views_publish(user_id=event["user"], view={"type": "home", "blocks": PANEL})

    server = threading.Thread(target=serve_home)
    server.start()
    view = ws.open_home("pi-3")
    server.join(5)
    assert view["type"] == "home" and [b["type"] for b in view["blocks"]] == ["section", "actions"]
    assert ws.home_view("pi-3") == view and ws.home_view("pi-1") is None
    # A click on the Home tab goes to its app, from the view.
    ws.click_home("pi-3", "toggle")
    got = wait_for(lambda: interactions(listener), what="the Home click")[0].payload
    assert got["container"] == {"type": "view", "view_id": view["id"]}
    assert got["view"]["id"] == view["id"] and "message" not in got


def test_open_home_without_an_answer_times_out(ws):
    with pytest.raises(TimeoutError, match="pi-1 published no Home view"):
        ws.open_home("pi-1", timeout=0.3)


def test_views_publish_is_checked(ws, client):
    with pytest.raises(SlackApiError) as err:
        client.views_publish(user_id=ws.user["id"], view={"type": "modal", "blocks": []})
    assert err.value.response["error"] == "invalid_arguments"
    person = WebClient(token=ws.user["token"], base_url=ws.api_url)
    with pytest.raises(SlackApiError) as err:
        person.views_publish(user_id=ws.user["id"], view={"type": "home", "blocks": []})
    assert err.value.response["error"] == "not_allowed_token_type"


def test_click_over_the_admin_api(ws, listen):
    listener = listen("pi-1")
    client = WebClient(token=ws.app("pi-1")["bot_token"], base_url=ws.api_url)
    ts = client.chat_postMessage(channel=ws.channel_id, text="panel", blocks=PANEL)["ts"]

    def post(path: str, body: dict) -> dict:
        request = urllib.request.Request(ws.admin_url + path, json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    assert post("click", {"message_ts": ts, "action_id": "toggle"})["result"]["app"] == "pi-1"
    wait_for(lambda: interactions(listener), what="the click")
    refused = post("click", {"message_ts": ts, "action_id": "nope"})
    assert not refused["ok"] and "no element with action_id 'nope'" in refused["error"]
    timed_out = post("open_home", {"app": "pi-2", "timeout": 0.2})
    assert not timed_out["ok"] and "published no Home view" in timed_out["error"]
