"""Web API methods: arguments in, Slack's JSON out (``SlackError`` for failures).

Each handler gets the calling ``Principal`` and the merged arguments (query,
form or JSON body) and returns the response without "ok".
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .ids import parse_ts
from .interactive import check_blocks, publish_view
from .model import TEAM_DOMAIN, TEAM_NAME, Channel, Principal, SlackError, Workspace

MAX_TEXT = 40_000


@dataclass
class Ctx:
    ws: Workspace
    who: Principal
    issue_url: Callable[[str], str]


Handler = Callable[[Ctx, dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}
# Methods an app-level token (xapp-) may call; every other method refuses it.
APP_TOKEN_METHODS = {"apps.connections.open"}


def method(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


# -- argument helpers ------------------------------------------------------


def _str(args: dict[str, Any], name: str) -> str | None:
    value = args.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise SlackError("invalid_arguments")
    return value


def _int(args: dict[str, Any], name: str, default: int, error: str = "invalid_arguments") -> int:
    value = args.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SlackError(error) from None


def _bool(args: dict[str, Any], name: str) -> bool:
    value = args.get(name)
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def _json_arg(args: dict[str, Any], name: str) -> Any:
    value = args.get(name)
    if isinstance(value, str) and value:
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError("invalid_arguments") from None
    return value or None


def _channel(ctx: Ctx, args: dict[str, Any], by_name: bool = False) -> Channel:
    ref = _str(args, "channel")
    if ref and by_name and ref not in ctx.ws.channels:
        name = ref.lstrip("#")
        ref = next((c.id for c in ctx.ws.channels.values() if c.name == name), ref)
    return ctx.ws.channel(ref)


def _member(ctx: Ctx, chan: Channel) -> None:
    who = ctx.who.user
    if who is not None and who.id not in chan.members:
        raise SlackError("not_in_channel")


def _cursor(kind: str, value: str | int) -> str:
    return base64.b64encode(f"{kind}:{value}".encode()).decode()


def _uncursor(args: dict[str, Any], kind: str) -> str | None:
    raw = _str(args, "cursor")
    if raw is None:
        return None
    try:
        prefix, _, value = base64.b64decode(raw, validate=True).decode().partition(":")
    except ValueError:
        raise SlackError("invalid_cursor") from None
    if prefix != kind or not value:
        raise SlackError("invalid_cursor")
    return value


def _page(items: list[Any], args: dict[str, Any], default: int = 100) -> tuple[list[Any], str]:
    """Offset pagination for directory lists: (page, next_cursor or "")."""
    start = int(_uncursor(args, "offset") or 0)
    limit = max(1, min(_int(args, "limit", default, "invalid_limit") or default, 1000))
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, _cursor("offset", start + limit) if more else ""


def _text(args: dict[str, Any], required: bool = True) -> str:
    text = _str(args, "text")
    if text is None and not args.get("blocks") and not args.get("attachments"):
        if required:
            raise SlackError("no_text")
        return ""
    if text is not None and len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    return text or ""


# -- auth and apps ---------------------------------------------------------


@method("auth.test")
def auth_test(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    assert ctx.who.user is not None
    out: dict[str, Any] = {
        "url": f"https://{TEAM_DOMAIN}.slack.com/",
        "team": TEAM_NAME,
        "user": ctx.who.user.name,
        "team_id": ctx.ws.team_id,
        "user_id": ctx.who.user.id,
        "is_enterprise_install": False,
    }
    if ctx.who.app is not None:
        out["bot_id"] = ctx.who.app.bot_id
    return out


@method("apps.connections.open")
def apps_connections_open(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    assert ctx.who.app is not None
    return {"url": ctx.issue_url(ctx.who.app.name)}


# -- chat ------------------------------------------------------------------


def _metadata(args: dict[str, Any]) -> dict[str, Any] | None:
    """Message metadata (chat.postMessage and chat.scheduleMessage both carry it)."""
    metadata = _json_arg(args, "metadata")
    if metadata is not None and not (
        isinstance(metadata, dict) and isinstance(metadata.get("event_type"), str)
    ):
        raise SlackError("invalid_metadata_format")
    return metadata


def _blocks(args: dict[str, Any], keep_empty: bool = False) -> list[dict[str, Any]] | None:
    """Block Kit blocks, checked as Slack does at the edge (troupe.sim.slack.interactive);
    with ``keep_empty`` an empty array is kept: chat.update removes the blocks with it."""
    value = args.get("blocks")
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise SlackError("invalid_blocks_format") from None
    if value == [] and not keep_empty:
        return None
    return check_blocks(value)


@method("chat.postMessage")
def chat_post_message(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args, by_name=True)
    _member(ctx, chan)
    text = _text(args)
    metadata = _metadata(args)
    blocks = _blocks(args)
    msg = ctx.ws.post_message(chan, ctx.who, text, _str(args, "thread_ts"), metadata, blocks)
    # Slack echoes the message with its metadata (payload included) to the app that posted it.
    return {"channel": chan.id, "ts": msg["ts"], "message": ctx.ws.render(chan, msg, True)}


@method("chat.update")
def chat_update(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args)
    text = _text(args)
    msg = ctx.ws.update_message(chan, ctx.who, _str(args, "ts"), text, _metadata(args),
                                _blocks(args, keep_empty=True))
    message = ctx.ws.render(chan, msg, True)
    return {"channel": chan.id, "ts": msg["ts"], "text": text, "message": message}


@method("chat.delete")
def chat_delete(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args)
    ts = _str(args, "ts")
    ctx.ws.delete_message(chan, ctx.who, ts)
    return {"channel": chan.id, "ts": ts}


@method("chat.postEphemeral")
def chat_post_ephemeral(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args, by_name=True)
    text = _text(args)
    user = _str(args, "user")
    if user is None or user not in chan.members:
        raise SlackError("user_not_in_channel")
    ts = ctx.ws.clock.next()
    ctx.ws.on_feed("ephemeral", {"channel": chan.id, "user": user, "text": text, "ts": ts})
    return {"message_ts": ts}


@method("chat.scheduleMessage")
def chat_schedule_message(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args, by_name=True)
    _member(ctx, chan)
    post_at = _int(args, "post_at", 0, "invalid_time")
    if post_at <= 0:
        raise SlackError("invalid_time")
    text = _text(args)
    item = ctx.ws.schedule(
        chan, ctx.who, text, post_at, _str(args, "thread_ts"), _metadata(args)
    )
    assert ctx.who.user is not None
    message: dict[str, Any] = {
        "type": "message",
        "text": text,
        "user": ctx.who.user.id,
        "team": ctx.ws.team_id,
    }
    if ctx.who.app is not None:
        message["bot_id"] = ctx.who.app.bot_id
        message["bot_profile"] = ctx.ws.bot_profile(ctx.who.app)
    return {
        "channel": chan.id,
        "scheduled_message_id": item.id,
        "post_at": item.post_at,
        "message": message,
    }


@method("chat.scheduledMessages.list")
def chat_scheduled_messages_list(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    """The caller's own scheduled messages only: on Slack, no app sees another's."""
    channel = _str(args, "channel")
    if channel is not None and channel not in ctx.ws.channels:
        raise SlackError("invalid_channel")
    items = [
        {
            "id": s.id,
            "channel_id": s.channel,
            "post_at": s.post_at,
            "date_created": s.date_created,
            "text": s.text,
        }
        for s in sorted(ctx.ws.scheduled.values(), key=lambda s: s.post_at)
        if channel in (None, s.channel) and s.author.key == ctx.who.key
    ]
    page, cursor = _page(items, args)
    return {"scheduled_messages": page, "response_metadata": {"next_cursor": cursor}}


@method("chat.deleteScheduledMessage")
def chat_delete_scheduled_message(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args)
    ctx.ws.delete_scheduled(chan.id, _str(args, "scheduled_message_id"), ctx.who)
    return {}


# -- conversations ---------------------------------------------------------


def _window(args: dict[str, Any]) -> tuple[int, int, bool]:
    oldest = parse_ts(args.get("oldest") or "0")
    if oldest is None:
        raise SlackError("invalid_ts_oldest")
    latest_arg = args.get("latest")
    latest = parse_ts(latest_arg) if latest_arg not in (None, "") else 1 << 62
    if latest is None:
        raise SlackError("invalid_ts_latest")
    return oldest, latest, _bool(args, "inclusive")


def _in_window(ts: str, oldest: int, latest: int, inclusive: bool) -> bool:
    t = parse_ts(ts) or 0
    if inclusive:
        return oldest <= t <= latest
    return oldest < t < latest


@method("conversations.history")
def conversations_history(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args)
    _member(ctx, chan)
    oldest, latest, inclusive = _window(args)
    limit = max(1, min(_int(args, "limit", 100), 999))
    start = _uncursor(args, "next_ts")
    metadata = _bool(args, "include_all_metadata")
    top = [
        m
        for ts, m in chan.messages.items()
        if m.get("thread_ts") in (None, ts) and _in_window(ts, oldest, latest, inclusive)
    ]
    top.sort(key=lambda m: parse_ts(m["ts"]) or 0, reverse=True)
    if start is not None:
        start_t = parse_ts(start) or 0
        top = [m for m in top if (parse_ts(m["ts"]) or 0) <= start_t]
    page, rest = top[:limit], top[limit:]
    out: dict[str, Any] = {
        "messages": [ctx.ws.render(chan, m, metadata) for m in page],
        "has_more": bool(rest),
        "pin_count": len(chan.pins),
        "channel_actions_ts": None,
        "channel_actions_count": 0,
    }
    if rest:
        out["response_metadata"] = {"next_cursor": _cursor("next_ts", rest[0]["ts"])}
    return out


@method("conversations.replies")
def conversations_replies(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args)
    _member(ctx, chan)
    ts = _str(args, "ts")
    parent = chan.messages.get(ts) if ts else None
    if parent is None:
        raise SlackError("thread_not_found")
    if parent.get("thread_ts") not in (None, ts):
        parent = chan.messages[parent["thread_ts"]]
    oldest, latest, inclusive = _window(args)
    limit = max(1, min(_int(args, "limit", 1000), 1000))
    metadata = _bool(args, "include_all_metadata")
    thread = [parent] + [
        chan.messages[r]
        for r in parent.get("_replies", [])
        if _in_window(r, oldest, latest, inclusive)
    ]
    offset = int(_uncursor(args, "offset") or 0)
    page = thread[offset : offset + limit]
    more = offset + limit < len(thread)
    out: dict[str, Any] = {
        "messages": [ctx.ws.render(chan, m, metadata) for m in page],
        "has_more": more,
    }
    if more:
        out["response_metadata"] = {"next_cursor": _cursor("offset", offset + limit)}
    return out


@method("conversations.info")
def conversations_info(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args)
    return {"channel": ctx.ws.render_channel(chan, ctx.who)}


@method("conversations.list")
def conversations_list(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    types = (_str(args, "types") or "public_channel").split(",")
    chans = list(ctx.ws.channels.values()) if "public_channel" in types else []
    page, cursor = _page([ctx.ws.render_channel(c, ctx.who) for c in chans], args)
    return {"channels": page, "response_metadata": {"next_cursor": cursor}}


@method("conversations.members")
def conversations_members(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args)
    page, cursor = _page(list(chan.members), args)
    return {"members": page, "response_metadata": {"next_cursor": cursor}}


@method("conversations.join")
def conversations_join(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args)
    joined = ctx.ws.join(chan, ctx.who)
    out: dict[str, Any] = {"channel": ctx.ws.render_channel(chan, ctx.who)}
    if not joined:
        out["warning"] = "already_in_channel"
        out["response_metadata"] = {"warnings": ["already_in_channel"]}
    return out


# -- pins and reactions ----------------------------------------------------


@method("pins.add")
def pins_add(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args)
    _member(ctx, chan)
    ctx.ws.pin(chan, ctx.who, _str(args, "timestamp"))
    return {}


@method("pins.remove")
def pins_remove(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args)
    _member(ctx, chan)
    ctx.ws.unpin(chan, ctx.who, _str(args, "timestamp"))
    return {}


@method("pins.list")
def pins_list(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args)
    return {"items": ctx.ws.pin_items(chan)}


def _reaction(ctx: Ctx, args: dict[str, Any], add: bool) -> dict[str, Any]:
    chan = _channel(ctx, args)
    _member(ctx, chan)
    ctx.ws.react(chan, ctx.who, _str(args, "timestamp"), args.get("name"), add)
    return {}


@method("reactions.add")
def reactions_add(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    return _reaction(ctx, args, True)


@method("reactions.remove")
def reactions_remove(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    return _reaction(ctx, args, False)


@method("reactions.get")
def reactions_get(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    chan = _channel(ctx, args)
    msg = ctx.ws.find_message(chan, _str(args, "timestamp"))
    return {"type": "message", "channel": chan.id, "message": ctx.ws.render(chan, msg)}


# -- views -----------------------------------------------------------------


@method("views.publish")
def views_publish(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    if ctx.who.app is None:
        raise SlackError("not_allowed_token_type")  # a Home tab is an app's
    view = args.get("view")
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError:
            raise SlackError("invalid_arguments") from None
    return {"view": publish_view(ctx.ws, ctx.who.app, args.get("user_id"), view,
                                 _str(args, "hash"))}


# -- users and bots --------------------------------------------------------


@method("users.info")
def users_info(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    user = ctx.ws.users.get(_str(args, "user") or "")
    if user is None:
        raise SlackError("user_not_found")
    return {"user": ctx.ws.render_user(user)}


@method("users.list")
def users_list(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    users = [ctx.ws.render_user(u) for u in ctx.ws.users.values()]
    page, cursor = _page(users, args, default=1000)
    return {
        "members": page,
        "cache_ts": int(time.time()),
        "response_metadata": {"next_cursor": cursor},
    }


@method("bots.info")
def bots_info(ctx: Ctx, args: dict[str, Any]) -> dict[str, Any]:
    bot = _str(args, "bot")
    app = next((a for a in ctx.ws.apps.values() if a.bot_id == bot), None)
    if app is None:
        raise SlackError("bot_not_found")
    profile = ctx.ws.bot_profile(app)
    return {
        "bot": {
            "id": app.bot_id,
            "deleted": False,
            "name": app.name,
            "updated": app.created,
            "app_id": app.app_id,
            "user_id": app.bot_user_id,
            "icons": profile["icons"],
        }
    }


def call(ctx: Ctx, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Runs one method: {"ok": true, ...} or {"ok": false, "error": ...}."""
    app_token = ctx.who.kind == "app"
    if app_token != (name in APP_TOKEN_METHODS):
        return {"ok": False, "error": "not_allowed_token_type"}
    try:
        result = HANDLERS[name](ctx, args)
    except SlackError as err:
        return {"ok": False, "error": err.error, **err.extra}
    return {"ok": True, **result}
