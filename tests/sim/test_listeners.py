"""SlackWorkspace.add_listener: every channel change, as made, with message metadata;
and the admin feed (/_sim/events, /_sim/feed) carrying the same metadata."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request

import aiohttp
import pytest

from troupe.sim.slack import CHANNEL_EVENTS

META = {"event_type": "troupe_command", "event_payload": {"command": "toggle dining light"}}


def _post_with_metadata(client, ws, text="on it"):
    return client.chat_postMessage(channel=ws.channel_id, text=text, metadata=META)["ts"]


def test_listener_sees_every_channel_event_in_order_with_metadata(ws, client, person):
    seen: list[dict] = []
    ws.add_listener(seen.append)

    plain = ws.post("toggle dining light")
    ts = _post_with_metadata(client, ws)
    client.chat_update(channel=ws.channel_id, ts=ts, text="on it (edited)")
    client.pins_add(channel=ws.channel_id, timestamp=ts)
    client.reactions_add(channel=ws.channel_id, timestamp=ts, name="white_check_mark")
    client.reactions_remove(channel=ws.channel_id, timestamp=ts, name="white_check_mark")
    client.pins_remove(channel=ws.channel_id, timestamp=ts)
    client.chat_delete(channel=ws.channel_id, ts=ts)

    # Delivered synchronously: every event is there as soon as the call that made it answered.
    assert [e["type"] for e in seen] == [
        "message_posted", "message_posted", "message_updated", "pin_added",
        "reaction_added", "reaction_removed", "pin_removed", "message_deleted",
    ]
    assert all(e["channel"] == ws.channel_id for e in seen)
    assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)

    first, *about_ts = seen
    assert first["message"]["ts"] == plain
    assert first["message"]["text"] == "toggle dining light"
    assert "metadata" not in first["message"]  # none was posted with it
    for event in about_ts:
        assert event["message"]["ts"] == ts, event["type"]
        assert event["message"]["metadata"] == META, event["type"]

    posted, updated, pinned, reacted, unreacted, unpinned, deleted = about_ts
    assert posted["message"]["bot_id"] == ws.app("pi-1")["bot_id"]
    assert updated["message"]["text"] == "on it (edited)"
    assert pinned["ts"] == ts and pinned["by"] == ws.app("pi-1")["bot_user_id"]
    assert pinned["message"]["pinned_to"] == [ws.channel_id]
    assert reacted["reaction"] == "white_check_mark"
    assert reacted["message"]["reactions"][0]["name"] == "white_check_mark"
    assert "reactions" not in unreacted["message"]
    assert "pinned_to" not in unpinned["message"]
    assert deleted["ts"] == ts and deleted["message"]["text"] == "on it (edited)"


def test_types_filter_and_app_events(ws):
    channel_only: list[dict] = []
    everything: list[dict] = []
    ws.add_listener(channel_only.append, CHANNEL_EVENTS)
    ws.add_listener(everything.append)

    ws.cut_off("pi-2")
    ws.restore("pi-2")
    ws.post("hello")

    assert [e["type"] for e in channel_only] == ["message_posted"]
    assert [e["type"] for e in everything] == ["app_cut_off", "app_restored", "message_posted"]
    assert everything[0]["app"] == "pi-2"


def test_remove_listener(ws):
    seen: list[dict] = []
    other: list[dict] = []
    ws.add_listener(seen.append)
    ws.add_listener(other.append)
    ws.post("one")
    assert ws.remove_listener(seen.append) is True  # equal, though a new bound method
    assert ws.remove_listener(seen.append) is False
    ws.post("two")
    assert [e["message"]["text"] for e in seen] == ["one"]
    assert [e["message"]["text"] for e in other] == ["one", "two"]


def test_listener_added_before_start_sees_everything():
    from troupe.sim.slack import SlackWorkspace

    seen: list[dict] = []
    workspace = SlackWorkspace(apps=1)
    workspace.add_listener(seen.append)
    with workspace:
        workspace.post("first words")
    assert [e["message"]["text"] for e in seen] == ["first words"]


def test_each_listener_gets_its_own_copy(ws):
    def vandal(event: dict) -> None:
        event["message"]["text"] = "scribbled"

    seen: list[dict] = []
    ws.add_listener(vandal)
    ws.add_listener(seen.append)
    ws.post("intact")
    assert seen[0]["message"]["text"] == "intact"
    assert ws.messages()[-1]["text"] == "intact"


def test_a_failing_listener_is_logged_and_breaks_nothing(ws, client, caplog):
    def broken(event: dict) -> None:
        raise ValueError("listener bug")

    seen: list[dict] = []
    ws.add_listener(broken)
    ws.add_listener(seen.append)
    with caplog.at_level(logging.ERROR, logger="troupe.sim.slack.server"):
        assert client.chat_postMessage(channel=ws.channel_id, text="still works")["ok"]
    assert [e["message"]["text"] for e in seen] == ["still works"]
    assert "listener bug" in caplog.text


def test_listener_can_act_before_the_call_answers(ws, client):
    """A listener may call plain workspace methods on the loop: here it cuts off the app
    that pinned, before pins.add answers; what that causes arrives after the current event."""
    seen: list[tuple[str, str]] = []
    errors: list[Exception] = []

    def trap(event: dict) -> None:
        seen.append(("trap", event["type"]))
        if event["type"] == "pin_added":
            ws.cut_off("pi-1")
            try:
                ws.close_connections("pi-1")  # asynchronous: not from a listener
            except RuntimeError as exc:
                errors.append(exc)

    ws.add_listener(trap)
    ws.add_listener(lambda event: seen.append(("other", event["type"])))
    ts = ws.post("toggle dining light")
    client.pins_add(channel=ws.channel_id, timestamp=ts)

    assert [a["cut_off"] for a in ws.apps_status() if a["name"] == "pi-1"] == [True]
    assert seen[2:] == [
        ("trap", "pin_added"), ("other", "pin_added"),
        ("trap", "app_cut_off"), ("other", "app_cut_off"),
    ]
    assert errors and "another thread" in str(errors[0])
    ws.restore("pi-1")


def test_admin_feed_carries_metadata(ws, client):
    async def scenario() -> list[dict]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws.admin_url + "events") as feed:
                loop = asyncio.get_running_loop()
                ts = await loop.run_in_executor(None, _post_with_metadata, client, ws)
                await loop.run_in_executor(
                    None, lambda: client.pins_add(channel=ws.channel_id, timestamp=ts))
                got = []
                while len(got) < 2:
                    got.append(json.loads((await feed.receive(timeout=5)).data))
                return got

    posted, pinned = asyncio.run(scenario())
    assert posted["type"] == "message_posted" and pinned["type"] == "pin_added"
    assert posted["message"]["metadata"] == META
    assert pinned["message"]["metadata"] == META

    with urllib.request.urlopen(ws.admin_url + "feed", timeout=5) as resp:
        log = json.loads(resp.read())
    assert [i["message"]["metadata"] for i in log if i["type"] == "message_posted"] == [META]


@pytest.mark.parametrize("name", ["add_listener", "remove_listener"])
def test_listener_api_is_public(ws, name):
    assert getattr(ws, name).__doc__
