"""Every implemented Web API method that Slack's 2020 OpenAPI description covers
answers, on success and on failure, with JSON that validates against it.

Where today's Slack sends something the 2020 description does not allow, the
emulator follows today's Slack; each such difference is named below, with why.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from troupe.sim.slack.webapi import HANDLERS

SPEC = json.loads((Path(__file__).parent / "specs" / "slack_web_openapi_v2.json").read_text())

# Fields today's Slack sends that the 2020 description forbids ("*" = every list item).
TODAYS_FIELDS: dict[str, list[tuple[str, str]]] = {
    "chat.postMessage": [("message.app_id", "bot messages carry app_id since 2020"),
                         ("message.metadata", "message metadata came in 2022")],
    "chat.update": [("message.app_id", "bot messages carry app_id since 2020"),
                    ("message.metadata", "message metadata came in 2022")],
    "conversations.history": [
        ("messages.*.app_id", "bot messages carry app_id since 2020"),
        ("messages.*.metadata", "message metadata came in 2022"),
        ("messages.*.edited", "Slack marks edited messages; the description's object omits it"),
        ("response_metadata", "cursor pagination on history came after the description"),
    ],
    "conversations.replies": [
        ("response_metadata", "cursor pagination on replies came after the description"),
    ],
}
# Error names today's Slack answers that the 2020 description does not list.
TODAYS_ERRORS: dict[tuple[str, str], str] = {
    ("pins.remove", "no_pin"): "today's Slack answers no_pin (the 2020 spec: not_pinned)",
}
# Implemented methods the description does not cover (added to Slack after 2020).
NOT_IN_SPEC = {"apps.connections.open"}


def schema_for(method: str, status: str) -> dict[str, Any]:
    path = SPEC["paths"]["/" + method]
    op = next(iter(path.values()))
    return {**op["responses"][status]["schema"], "definitions": SPEC["definitions"]}


def strip(data: dict[str, Any], dotted: str) -> None:
    def walk(node: Any, parts: list[str]) -> None:
        if not parts:
            return
        head, rest = parts[0], parts[1:]
        if head == "*" and isinstance(node, list):
            for item in node:
                walk(item, rest)
        elif isinstance(node, dict) and head in node:
            if rest:
                walk(node[head], rest)
            else:
                del node[head]

    walk(data, dotted.split("."))


def check(method: str, response: dict[str, Any]) -> None:
    data = copy.deepcopy(response)
    if data["ok"]:
        for dotted, _why in TODAYS_FIELDS.get(method, []):
            strip(data, dotted)
        errors = list(Draft4Validator(schema_for(method, "200")).iter_errors(data))
    else:
        if (method, data["error"]) in TODAYS_ERRORS:
            return
        errors = list(Draft4Validator(schema_for(method, "default")).iter_errors(data))
    assert not errors, f"{method}: {[e.message for e in errors]}\n{json.dumps(response)[:2000]}"


def call(web: WebClient, method: str, **params: Any) -> dict[str, Any]:
    try:
        return web.api_call(method, json=params).data  # type: ignore[return-value]
    except SlackApiError as err:
        return err.response.data  # type: ignore[return-value]


@pytest.fixture
def seeded(ws, client, person):
    """A channel with a thread, a pin, a reaction and a scheduled message."""
    chan = ws.channel_id
    parent = ws.post("parent")
    ws.post("reply", thread_ts=parent)
    client.chat_postMessage(channel=chan, text="bot reply", thread_ts=parent)
    for n in range(3):
        ws.post(f"filler {n}")
    client.chat_postMessage(channel=chan, text="from a bot")
    client.pins_add(channel=chan, timestamp=parent)
    client.reactions_add(channel=chan, timestamp=parent, name="eyes")
    return {"parent": parent}


def test_every_implemented_method_is_covered():
    described = {p.lstrip("/") for p in SPEC["paths"]}
    assert set(HANDLERS) - described == NOT_IN_SPEC
    assert set(SUCCESS) | NOT_IN_SPEC == set(HANDLERS) == set(FAILURE) | NOT_IN_SPEC


SUCCESS: dict[str, Any] = {
    "auth.test": lambda c, ws, s: {},
    "chat.postMessage": lambda c, ws, s: {"channel": ws.channel_id, "text": "hi"},
    "chat.update": lambda c, ws, s: {
        "channel": ws.channel_id,
        "ts": c.chat_postMessage(channel=ws.channel_id, text="a")["ts"],
        "text": "b",
    },
    "chat.delete": lambda c, ws, s: {
        "channel": ws.channel_id,
        "ts": c.chat_postMessage(channel=ws.channel_id, text="a")["ts"],
    },
    "chat.postEphemeral": lambda c, ws, s: {
        "channel": ws.channel_id,
        "user": ws.user["id"],
        "text": "psst",
    },
    "chat.scheduleMessage": lambda c, ws, s: {
        "channel": ws.channel_id,
        "text": "later",
        "post_at": int(time.time()) + 3600,
    },
    "chat.scheduledMessages.list": lambda c, ws, s: {"channel": ws.channel_id},
    "chat.deleteScheduledMessage": lambda c, ws, s: {
        "channel": ws.channel_id,
        "scheduled_message_id": c.chat_scheduleMessage(
            channel=ws.channel_id, text="x", post_at=int(time.time()) + 3600
        )["scheduled_message_id"],
    },
    "conversations.history": lambda c, ws, s: {"channel": ws.channel_id, "limit": 3},
    "conversations.replies": lambda c, ws, s: {"channel": ws.channel_id, "ts": s["parent"]},
    "conversations.info": lambda c, ws, s: {"channel": ws.channel_id},
    "conversations.list": lambda c, ws, s: {"limit": 1},
    "conversations.members": lambda c, ws, s: {"channel": ws.channel_id},
    "conversations.join": lambda c, ws, s: {"channel": ws.channel_id},
    "pins.add": lambda c, ws, s: {"channel": ws.channel_id, "timestamp": ws.post("pin me")},
    "pins.remove": lambda c, ws, s: {"channel": ws.channel_id, "timestamp": s["parent"]},
    "pins.list": lambda c, ws, s: {"channel": ws.channel_id},
    "reactions.add": lambda c, ws, s: {
        "channel": ws.channel_id,
        "timestamp": s["parent"],
        "name": "tada",
    },
    "reactions.remove": lambda c, ws, s: {
        "channel": ws.channel_id,
        "timestamp": s["parent"],
        "name": "eyes",
    },
    "reactions.get": lambda c, ws, s: {"channel": ws.channel_id, "timestamp": s["parent"]},
    "users.info": lambda c, ws, s: {"user": ws.user["id"]},
    "users.list": lambda c, ws, s: {"limit": 2},
    "bots.info": lambda c, ws, s: {"bot": ws.app("pi-2")["bot_id"]},
    "views.publish": lambda c, ws, s: {"user_id": ws.user["id"],
                                       "view": {"type": "home", "blocks": []}},
}

FAILURE: dict[str, tuple[Any, str]] = {
    "auth.test": (lambda ws, s: {}, "invalid_auth"),
    "chat.postMessage": (
        lambda ws, s: {"channel": "CNOSUCHCHAN", "text": "x"},
        "channel_not_found",
    ),
    "chat.update": (
        lambda ws, s: {"channel": ws.channel_id, "ts": "1000000000.000001", "text": "x"},
        "message_not_found",
    ),
    "chat.delete": (
        lambda ws, s: {"channel": ws.channel_id, "ts": "1000000000.000001"},
        "message_not_found",
    ),
    "chat.postEphemeral": (
        lambda ws, s: {"channel": ws.channel_id, "user": "UNOBODY0000", "text": "x"},
        "user_not_in_channel",
    ),
    "chat.scheduleMessage": (
        lambda ws, s: {"channel": ws.channel_id, "text": "x", "post_at": 1000000000},
        "time_in_past",
    ),
    "chat.scheduledMessages.list": (lambda ws, s: {"channel": "CNOSUCHCHAN"}, "invalid_channel"),
    "chat.deleteScheduledMessage": (
        lambda ws, s: {"channel": ws.channel_id, "scheduled_message_id": "Q0000000000"},
        "invalid_scheduled_message_id",
    ),
    "conversations.history": (lambda ws, s: {"channel": "CNOSUCHCHAN"}, "channel_not_found"),
    "conversations.replies": (
        lambda ws, s: {"channel": ws.channel_id, "ts": "1000000000.000001"},
        "thread_not_found",
    ),
    "conversations.info": (lambda ws, s: {"channel": "CNOSUCHCHAN"}, "channel_not_found"),
    "conversations.list": (lambda ws, s: {}, "invalid_auth"),
    "conversations.members": (lambda ws, s: {"channel": "CNOSUCHCHAN"}, "channel_not_found"),
    "conversations.join": (lambda ws, s: {"channel": "CNOSUCHCHAN"}, "channel_not_found"),
    "pins.add": (
        lambda ws, s: {"channel": ws.channel_id, "timestamp": s["parent"]},
        "already_pinned",
    ),
    "pins.remove": (lambda ws, s: {"channel": ws.channel_id, "timestamp": ws.post("x")}, "no_pin"),
    "pins.list": (lambda ws, s: {"channel": "CNOSUCHCHAN"}, "channel_not_found"),
    "reactions.add": (
        lambda ws, s: {"channel": ws.channel_id, "timestamp": s["parent"], "name": "eyes"},
        "already_reacted",
    ),
    "reactions.remove": (
        lambda ws, s: {"channel": ws.channel_id, "timestamp": s["parent"], "name": "tada"},
        "no_reaction",
    ),
    "reactions.get": (
        lambda ws, s: {"channel": ws.channel_id, "timestamp": "1000000000.000001"},
        "message_not_found",
    ),
    "users.info": (lambda ws, s: {"user": "UNOBODY0000"}, "user_not_found"),
    "users.list": (lambda ws, s: {}, "invalid_auth"),
    "bots.info": (lambda ws, s: {"bot": "BNOBODY0000"}, "bot_not_found"),
    "views.publish": (lambda ws, s: {"user_id": "UNOBODY0000", "view": {"type": "home"}},
                      "user_not_found"),
}


@pytest.mark.parametrize("method", sorted(SUCCESS))
def test_success_matches_schema(method, ws, client, seeded):
    response = call(client, method, **SUCCESS[method](client, ws, seeded))
    assert response["ok"], response
    check(method, response)


@pytest.mark.parametrize("method", sorted(FAILURE))
def test_failure_matches_schema(method, ws, client, seeded):
    make_args, error = FAILURE[method]
    web = client
    if error == "invalid_auth":
        web = WebClient(token="xoxb-not-a-token", base_url=ws.api_url)
    response = call(web, method, **make_args(ws, seeded))
    assert response == {"ok": False, "error": error}
    check(method, response)
    unauthed = call(WebClient(base_url=ws.api_url), method, **make_args(ws, seeded))
    assert unauthed == {"ok": False, "error": "not_authed"}
    check(method, unauthed)


def test_paginated_history_and_bot_messages_match_schema(ws, client, seeded):
    first = call(client, "conversations.history", channel=ws.channel_id, limit=2)
    assert first["has_more"] and first["response_metadata"]["next_cursor"]
    check("conversations.history", first)
    bots = [m for m in first["messages"] if "bot_id" in m]
    assert bots and bots[0]["app_id"] == ws.app("pi-1")["app_id"]


def test_messages_with_metadata_match_schema(ws, client):
    """chat.postMessage and chat.update answer with the message's metadata (issue 17)."""
    meta = {"event_type": "troupe_reply", "event_payload": {"command_ts": "1.2"}}
    posted = call(client, "chat.postMessage", channel=ws.channel_id, text="a", metadata=meta)
    assert posted["message"]["metadata"] == meta
    check("chat.postMessage", posted)
    updated = call(client, "chat.update", channel=ws.channel_id, ts=posted["ts"], text="b",
                   metadata={**meta, "event_payload": {"command_ts": "3.4"}})
    assert updated["message"]["metadata"]["event_payload"] == {"command_ts": "3.4"}
    check("chat.update", updated)
    history = call(client, "conversations.history", channel=ws.channel_id,
                   include_all_metadata=True)
    check("conversations.history", history)
