"""Block Kit on messages, button clicks (``block_actions``) and App Home views.

Slack checks ``blocks`` loosely at the edge (a JSON array of at most 50 objects, each with
a ``type``) and fills in what a block or button left out (``block_id``, ``action_id``); so
does the emulator. A click is sent, as an ``interactive`` Socket Mode envelope, only to the
app that posted the message (or published the view) clicked; it is acknowledged and
redelivered like an event. ``views.publish`` keeps one Home view per app and person.
"""

from __future__ import annotations

import copy
import secrets
import time
from typing import Any

from .model import TEAM_DOMAIN, App, SlackError, User, Workspace

MAX_BLOCKS = 50  # per message (Slack: 50 in messages, 100 in views)
MAX_VIEW_BLOCKS = 100


def check_blocks(blocks: Any, limit: int = MAX_BLOCKS) -> list[dict[str, Any]] | None:
    """``blocks`` as Slack stores them, or SlackError: not an array ``invalid_blocks_format``,
    a block that is not an object with a ``type`` (or too many) ``invalid_blocks``."""
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    if len(blocks) > limit:
        raise SlackError("invalid_blocks", errors=[f"must contain at most {limit} blocks"])
    out = copy.deepcopy(blocks)
    for n, block in enumerate(out):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise SlackError("invalid_blocks",
                             errors=[f"missing required field: type [json-pointer:/blocks/{n}]"])
        block.setdefault("block_id", secrets.token_urlsafe(4))
        if any(b is not block and b.get("block_id") == block["block_id"] for b in out[:n]):
            raise SlackError("invalid_blocks", errors=[
                f"duplicate block_id {block['block_id']!r} [json-pointer:/blocks/{n}]"])
        for element in _elements(block):
            if element.get("type") == "button":
                element.setdefault("action_id", secrets.token_urlsafe(4))
    return out


def _elements(block: dict[str, Any]) -> list[dict[str, Any]]:
    """The interactive elements of a block: an actions block's, a section's accessory."""
    found = [e for e in block.get("elements") or [] if isinstance(e, dict)]
    accessory = block.get("accessory")
    if isinstance(accessory, dict):
        found.append(accessory)
    return [e for e in found if "action_id" in e or e.get("type") == "button"]


def find_action(blocks: list[dict[str, Any]], action_id: str) -> tuple[str, dict[str, Any]]:
    """(block_id, element) of the element ``action_id``; KeyError naming the ones there are."""
    known = []
    for block in blocks or []:
        for element in _elements(block):
            if element.get("action_id") == action_id:
                return block["block_id"], element
            known.append(element.get("action_id"))
    raise KeyError(f"no element with action_id {action_id!r}; there are {known}")


def _user(ws: Workspace, user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.name, "name": user.name, "team_id": ws.team_id}


def _action(block_id: str, element: dict[str, Any], value: str | None) -> dict[str, Any]:
    action = {
        "action_id": element["action_id"],
        "block_id": block_id,
        "type": element.get("type", "button"),
        "action_ts": f"{time.time():.6f}",
    }
    if "text" in element:
        action["text"] = copy.deepcopy(element["text"])
    if value is not None:
        action["value"] = value
    elif "value" in element:
        action["value"] = element["value"]
    return action


def block_actions(ws: Workspace, app: App, user: User, block_id: str, element: dict[str, Any],
                  value: str | None, where: dict[str, Any]) -> dict[str, Any]:
    """The ``block_actions`` payload Slack sends the app for one click; ``where`` holds
    ``container`` and either ``channel`` + ``message`` or ``view``."""
    return {
        "type": "block_actions",
        "user": _user(ws, user),
        "api_app_id": app.app_id,
        "token": "sim-verification-token",
        "trigger_id": f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}",
        "team": {"id": ws.team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "state": {"values": {}},
        "actions": [_action(block_id, element, value)],
        **where,
    }


def publish_view(ws: Workspace, app: App, user_id: Any, view: Any, hash_: Any) -> dict[str, Any]:
    """views.publish: the app's Home tab for one person, replacing the one before."""
    if not isinstance(user_id, str) or not user_id:
        raise SlackError("invalid_arguments")
    user = ws.users.get(user_id)
    if user is None or user.is_bot:
        raise SlackError("user_not_found")
    if not isinstance(view, dict) or view.get("type") != "home":
        raise SlackError("invalid_arguments",
                         response_metadata={"messages": ["[ERROR] view.type must be home"]})
    blocks = check_blocks(view.get("blocks"), MAX_VIEW_BLOCKS)
    key = (app.name, user.id)
    previous = ws.views.get(key)
    if hash_ and previous is not None and hash_ != previous["hash"]:
        raise SlackError("hash_conflict")
    view_id = previous["id"] if previous else ws.ids.new("V")
    stored = {
        "id": view_id,
        "team_id": ws.team_id,
        "type": "home",
        "blocks": blocks or [],
        "private_metadata": str(view.get("private_metadata") or ""),
        "callback_id": str(view.get("callback_id") or ""),
        "state": {"values": {}},
        "hash": f"{time.time():.6f}.{secrets.token_hex(4)}",
        "clear_on_close": False,
        "notify_on_close": False,
        "root_view_id": view_id,
        "previous_view_id": None,
        "app_id": app.app_id,
        "external_id": str(view.get("external_id") or ""),
        "app_installed_team_id": ws.team_id,
        "bot_id": app.bot_id,
    }
    ws.views[key] = stored
    ws.on_feed("view_published", {"app": app.name, "user": user.id, "view": copy.deepcopy(stored)})
    return copy.deepcopy(stored)


def home_opened_event(ws: Workspace, app: App, user: User) -> dict[str, Any]:
    """The ``app_home_opened`` event the app gets when a person opens its Home tab."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user.id,
        "channel": "D" + app.app_id[1:],  # the person's DM with the app
        "tab": "home",
        "event_ts": ws.clock.next(),
    }
    previous = ws.views.get((app.name, user.id))
    if previous is not None:
        event["view"] = copy.deepcopy(previous)
    return event
