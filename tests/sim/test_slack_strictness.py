"""Where the emulator once was more lenient than Slack (issue 17): it now answers as Slack
does, with real slack_sdk clients (and phue/raw HTTP for the Hue bridge)."""

from __future__ import annotations

import asyncio
import http.client
import json
import urllib.error
import urllib.request

import aiohttp
import pytest
from sim_helpers import wait_for
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from troupe.sim.hue import HueBridge
from troupe.sim.slack import SlackWorkspace


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(SlackApiError) as info:
        fn(*args, **kwargs)
    return info.value.response["error"]


def test_reactions_add_refuses_unknown_emoji(ws, client):
    ts = ws.post("toggle dining light")
    react = client.reactions_add
    assert error_of(react, channel=ws.channel_id, timestamp=ts, name="white_check_mrak") == (
        "invalid_name")
    assert error_of(react, channel=ws.channel_id, timestamp=ts, name="house-done") == (
        "invalid_name")
    for name in ("white_check_mark", "x", "warning", "+1", "-1", "thumbsup::skin-tone-3"):
        assert react(channel=ws.channel_id, timestamp=ts, name=name)["ok"]
    ws.add_emoji("house-done")  # a custom emoji the workspace added
    assert react(channel=ws.channel_id, timestamp=ts, name="house-done")["ok"]
    assert [r["name"] for r in ws.reactions(ts)][-1] == "house-done"


def test_every_marker_troupe_uses_is_a_real_emoji():
    from plugins.update.canary import DOWN, UP
    from slackmq.markers import Markers
    from troupe.sim.slack.emoji import is_valid

    names = set(Markers().names()) | set(UP) | set(DOWN)
    assert names and all(is_valid(n) for n in names), sorted(n for n in names if not is_valid(n))


def test_post_message_returns_metadata_and_update_replaces_it(ws, client):
    meta = {"event_type": "troupe_step", "event_payload": {"step": 1}}
    posted = client.chat_postMessage(channel=ws.channel_id, text="step", metadata=meta)
    assert posted["message"]["metadata"] == meta
    newer = {"event_type": "troupe_step", "event_payload": {"step": 2}}
    updated = client.chat_update(channel=ws.channel_id, ts=posted["ts"], text="step 2",
                                 metadata=newer)
    assert updated["message"]["metadata"] == newer
    history = client.conversations_history(channel=ws.channel_id, include_all_metadata=True)
    assert history["messages"][0]["metadata"] == newer


def test_pin_removed_counts_after_the_removal(ws, listen, client):
    listener = listen("pi-2")
    ts = ws.post("pin me")
    client.pins_add(channel=ws.channel_id, timestamp=ts)
    client.pins_remove(channel=ws.channel_id, timestamp=ts)
    removed = wait_for(lambda: listener.events("pin_removed"), what="pin_removed")[0]
    assert removed["pin_count"] == 0 and removed["has_pins"] is False


@pytest.mark.parametrize("verb", ["PUT", "DELETE", "PATCH"])
def test_other_http_verbs_are_refused(ws, verb):
    req = urllib.request.Request(ws.api_url + "auth.test", data=b"{}", method=verb,
                                 headers={"Authorization": "Bearer " + ws.user["token"],
                                          "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 405
    assert json.loads(info.value.read()) == {"ok": False, "error": "method_not_allowed"}


def test_a_socket_mode_url_serves_one_connection(ws):
    async def scenario() -> tuple[int, int]:
        async with aiohttp.ClientSession() as session:
            opened = await session.post(
                ws.api_url + "apps.connections.open",
                headers={"Authorization": "Bearer " + ws.app("pi-1")["app_token"]},
            )
            url = (await opened.json())["url"]
            async with session.ws_connect(url) as sock:
                hello = json.loads((await sock.receive(timeout=5)).data)
                assert hello["type"] == "hello"
                again = await session.get(url)
                return again.status, ws.connections("pi-1")

    status, open_now = asyncio.run(scenario())
    assert status == 401 and open_now == 1


def admin_request(ws, path: str, body: bytes | None, headers: dict[str, str]) -> int:
    req = urllib.request.Request(ws.admin_url + path, data=body, headers=headers,
                                 method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_admin_api_refuses_cross_site_requests(ws):
    body = json.dumps({"app": "pi-1"}).encode()
    # A form a page on another site could post: no JSON content type.
    assert admin_request(ws, "cut_off", b"app=pi-1",
                         {"Content-Type": "application/x-www-form-urlencoded"}) == 415
    assert admin_request(ws, "cut_off", body, {"Content-Type": "text/plain"}) == 415
    assert admin_request(ws, "cut_off", body, {"Content-Type": "application/json",
                                               "Origin": "http://evil.example"}) == 403
    assert admin_request(ws, "messages", None, {"Sec-Fetch-Site": "cross-site"}) == 403
    assert not ws.apps_status()[0]["cut_off"]
    assert admin_request(ws, "cut_off", body, {"Content-Type": "application/json"}) == 200
    assert ws.apps_status()[0]["cut_off"]


def test_a_short_burst_of_posts_passes_then_the_rate_holds():
    with SlackWorkspace(apps=1, rate_limits="real") as ws:
        bare = WebClient(token=ws.app("pi-1")["bot_token"], base_url=ws.api_url)
        statuses = []
        for n in range(6):
            try:
                bare.chat_postMessage(channel=ws.channel_id, text=f"burst {n}")
                statuses.append(200)
            except SlackApiError as err:
                statuses.append(err.response.status_code)
        assert statuses[:4] == [200] * 4 and statuses[-1] == 429


# -- the Hue bridge -------------------------------------------------------


@pytest.fixture
def hue():
    with HueBridge(lights=["Dining", "Lounge", "Porch"], port=0) as bridge:
        yield bridge


def hue_call(hue: HueBridge, method: str, path: str, body=None) -> tuple[str, bytes]:
    conn = http.client.HTTPConnection(hue.address, timeout=5)
    conn.request(method, path, None if body is None else json.dumps(body))
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.headers["Content-Type"], data


def test_hue_groups_carry_sensors_and_recycle(hue):
    groups = json.loads(hue_call(hue, "GET", f"/api/{hue.username}/groups")[1])
    assert groups["1"]["sensors"] == [] and groups["1"]["recycle"] is False
    zero = json.loads(hue_call(hue, "GET", f"/api/{hue.username}/groups/0")[1])
    assert "sensors" in zero and "recycle" in zero


def test_hue_bri_inc_on_dimmable_lights(hue):
    base = f"/api/{hue.username}/lights"
    hue_call(hue, "PUT", f"{base}/1/state", {"on": True, "bri": 100})
    answer = json.loads(hue_call(hue, "PUT", f"{base}/1/state", {"bri_inc": 50})[1])
    assert answer == [{"success": {"/lights/1/state/bri_inc": 50}}]
    assert hue.light("Dining")["bri"] == 150
    hue_call(hue, "PUT", f"{base}/1/state", {"bri_inc": 254})
    assert hue.light("Dining")["bri"] == 254  # kept in range
    plug = json.loads(hue_call(hue, "PUT", f"{base}/3/state", {"bri_inc": 10})[1])
    assert plug[0]["error"]["type"] == 6


def test_hue_pairing_clientkey_and_devicetype_length(hue):
    hue.press_link_button()
    ok = json.loads(hue_call(hue, "POST", "/api", {"devicetype": "aiohue#test",
                                                   "generateclientkey": True})[1])
    key = ok[0]["success"]["clientkey"]
    assert len(key) == 32 and int(key, 16) >= 0
    long = json.loads(hue_call(hue, "POST", "/api", {"devicetype": "x" * 41})[1])
    assert long[0]["error"]["type"] == 7


def test_hue_description_xml(hue):
    ctype, data = hue_call(hue, "GET", "/description.xml")
    assert ctype.startswith("text/xml")
    assert b"<modelName>Philips hue bridge 2015</modelName>" in data
    assert f"<URLBase>http://{hue.address}/</URLBase>".encode() in data


def test_live_message_events_carry_only_the_metadata_event_type(ws, listen, client):
    listener = listen("pi-2")
    meta = {"event_type": "troupe_command", "event_payload": {"on_behalf_of": "U1"}}
    ts = client.chat_postMessage(channel=ws.channel_id, text="count 1", metadata=meta)["ts"]
    live = wait_for(lambda: listener.messages("count 1"), what="the live event")[0]
    assert live["metadata"] == {"event_type": "troupe_command"}
    history = client.conversations_history(channel=ws.channel_id, latest=ts, inclusive=True,
                                           limit=1, include_all_metadata=True)
    assert history["messages"][0]["metadata"] == meta


def test_full_metadata_events_option_restores_the_payload():
    from sim_helpers import Listener

    with SlackWorkspace(apps=2, full_metadata_events=True) as ws:
        listener = Listener(ws, "pi-2")
        listener.client.connect()
        try:
            wait_for(lambda: ws.connections("pi-2"), what="pi-2 to connect")
            web = WebClient(token=ws.app("pi-1")["bot_token"], base_url=ws.api_url)
            meta = {"event_type": "troupe_command", "event_payload": {"on_behalf_of": "U1"}}
            web.chat_postMessage(channel=ws.channel_id, text="full", metadata=meta)
            live = wait_for(lambda: listener.messages("full"), what="the live event")[0]
            assert live["metadata"] == meta
        finally:
            listener.client.auto_reconnect_enabled = False
            ws.close_connections("pi-2")
            listener.client.close()


def test_scheduled_messages_are_private_to_the_app_that_made_them(ws, client):
    import time

    other = WebClient(token=ws.app("pi-2")["bot_token"], base_url=ws.api_url)
    made = client.chat_scheduleMessage(channel=ws.channel_id, text="later",
                                       post_at=int(time.time()) + 600)
    sid = made["scheduled_message_id"]
    assert [m["id"] for m in client.chat_scheduledMessages_list()["scheduled_messages"]] == [sid]
    assert other.chat_scheduledMessages_list()["scheduled_messages"] == []
    assert error_of(other.chat_deleteScheduledMessage, channel=ws.channel_id,
                    scheduled_message_id=sid) == "invalid_scheduled_message_id"
    assert [s["author"] for s in ws.scheduled()] == ["pi-1"]
    assert client.chat_deleteScheduledMessage(channel=ws.channel_id,
                                              scheduled_message_id=sid)["ok"]
    assert ws.scheduled() == []
