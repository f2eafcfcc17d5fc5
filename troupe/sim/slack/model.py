"""The workspace's state: people, apps, channels, messages, pins, reactions.

Every method here runs on the server's event loop thread (the public Python
API hops onto that thread), so the state needs no locks. Operations raise
``SlackError`` with Slack's error names; every change is reported through
``on_event`` (channel events for Socket Mode) and ``on_feed`` (admin feed and
listeners). Feed items about a message carry it as ``message``, rendered as
the Web API returns it, with its ``metadata`` when it has some.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import emoji
from .ids import IdFactory, TsClock, parse_ts, token

TEAM_NAME = "Troupe Sim"
TEAM_DOMAIN = "troupe-sim"
ICON = "https://a.slack-edge.com/80588/img/plugins/app/bot_48.png"


class SlackError(Exception):
    """A Slack API error: answered as HTTP 200 {"ok": false, "error": name, ...}."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class User:
    id: str
    name: str
    token: str | None
    is_bot: bool = False
    bot_id: str | None = None
    app_id: str | None = None
    created: int = field(default_factory=lambda: int(time.time()))

    def public(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "token": self.token or ""}


@dataclass
class App:
    name: str
    app_id: str
    bot_id: str
    bot_user_id: str
    bot_token: str
    app_token: str
    created: int = field(default_factory=lambda: int(time.time()))

    def public(self) -> dict[str, str]:
        return {
            "name": self.name,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
            "bot_user_id": self.bot_user_id,
            "bot_token": self.bot_token,
            "app_token": self.app_token,
        }


@dataclass
class Principal:
    """Who is calling: a person (user token), an app's bot, or an app-level token."""

    kind: str  # "user" | "bot" | "app"
    user: User | None
    app: App | None

    @property
    def key(self) -> str:
        """Name used for rate limits, call counts and logs."""
        if self.app is not None:
            return self.app.name
        assert self.user is not None
        return self.user.name


@dataclass
class Channel:
    id: str
    name: str
    creator: str
    members: list[str]
    created: int = field(default_factory=lambda: int(time.time()))
    is_general: bool = False
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> message
    pins: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> {created, created_by}


@dataclass
class Scheduled:
    id: str
    channel: str
    post_at: int
    text: str
    author: Principal
    thread_ts: str | None
    date_created: int
    handle: Any = None
    metadata: dict[str, Any] | None = None


class Workspace:
    def __init__(self, channel: str = "home", apps: int = 3, person: str = "alice") -> None:
        self.ids = IdFactory()
        self.clock = TsClock()
        self.team_id = self.ids.new("T")
        self.users: dict[str, User] = {}
        self.apps: dict[str, App] = {}
        self.channels: dict[str, Channel] = {}
        self.scheduled: dict[str, Scheduled] = {}
        self.custom_emoji: set[str] = set()  # reaction names the workspace added
        self.views: dict[tuple[str, str], dict[str, Any]] = {}  # (app, user id) -> Home view
        # Live message events carry only metadata.event_type unless this is set (Slack drops
        # event_payload for event types the app did not declare; python-slack-sdk #1501).
        self.full_metadata_events = False
        self.on_event: Callable[[str, dict[str, Any]], None] = lambda channel, event: None
        self.on_feed: Callable[[str, dict[str, Any]], None] = lambda kind, data: None
        self.schedule_at: Callable[[float, Callable[[], None]], Any] = lambda when, fn: None
        self.person = self.add_user(person, join=False)
        # Slack always has a #general; only people are in it (apps must join).
        general = Channel(self.ids.new("C"), "general", self.person.id, [self.person.id])
        general.is_general = True
        self.channels[general.id] = general
        home = Channel(self.ids.new("C"), channel, self.person.id, [self.person.id])
        self.channels[home.id] = home
        self.home = home
        for n in range(1, apps + 1):
            self.add_app(f"pi-{n}")

    # -- directory -------------------------------------------------------

    def add_user(self, name: str, join: bool = True) -> User:
        user = User(self.ids.new("U"), name, token("xoxp"))
        self.users[user.id] = user
        if join:
            for channel in self.channels.values():
                if user.id not in channel.members:
                    channel.members.append(user.id)
        return user

    def add_app(self, name: str) -> App:
        app = App(
            name=name,
            app_id=self.ids.new("A"),
            bot_id=self.ids.new("B"),
            bot_user_id=self.ids.new("U"),
            bot_token=token("xoxb"),
            app_token=token("xapp-1"),
        )
        self.apps[name] = app
        bot_user = User(app.bot_user_id, name, app.bot_token, True, app.bot_id, app.app_id)
        self.users[bot_user.id] = bot_user
        self.home.members.append(bot_user.id)
        return app

    def principal(self, tok: str | None) -> Principal:
        if not tok:
            raise SlackError("not_authed")
        for app in self.apps.values():
            if tok == app.app_token:
                return Principal("app", None, app)
            if tok == app.bot_token:
                return Principal("bot", self.users[app.bot_user_id], app)
        for user in self.users.values():
            if not user.is_bot and user.token == tok:
                return Principal("user", user, None)
        raise SlackError("invalid_auth")

    def app_by_id(self, app_id: str) -> App | None:
        return next((a for a in self.apps.values() if a.app_id == app_id), None)

    def member_apps(self, channel_id: str) -> list[App]:
        members = self.channels[channel_id].members
        return [a for a in self.apps.values() if a.bot_user_id in members]

    def channel(self, channel_id: Any, who: Principal | None = None, read: bool = False) -> Channel:
        chan = self.channels.get(channel_id) if isinstance(channel_id, str) else None
        if chan is None:
            raise SlackError("channel_not_found")
        if who is not None and who.user is not None and who.user.id not in chan.members:
            raise SlackError("not_in_channel")
        return chan

    def find_message(self, chan: Channel, ts: Any) -> dict[str, Any]:
        if not ts:
            raise SlackError("no_item_specified")
        if not isinstance(ts, str) or parse_ts(ts) is None:
            raise SlackError("bad_timestamp")
        msg = chan.messages.get(ts)
        if msg is None:
            raise SlackError("message_not_found")
        return msg

    # -- rendering -------------------------------------------------------

    def bot_profile(self, app: App) -> dict[str, Any]:
        return {
            "id": app.bot_id,
            "deleted": False,
            "name": app.name,
            "updated": app.created,
            "app_id": app.app_id,
            "icons": {"image_36": ICON, "image_48": ICON, "image_72": ICON},
            "team_id": self.team_id,
        }

    def render(self, chan: Channel, msg: dict[str, Any], metadata: bool = False) -> dict[str, Any]:
        """A message as Slack's API returns it: with reactions, pins and thread fields."""
        out = {k: copy.deepcopy(v) for k, v in msg.items() if not k.startswith("_")}
        if metadata and "_metadata" in msg:
            out["metadata"] = copy.deepcopy(msg["_metadata"])
        reactions = msg.get("_reactions") or []
        if reactions:
            out["reactions"] = [
                {"name": r["name"], "users": list(r["users"]), "count": len(r["users"])}
                for r in reactions
            ]
        if msg["ts"] in chan.pins:
            out["pinned_to"] = [chan.id]
        replies = msg.get("_replies") or []
        if replies:
            users: list[str] = []
            for ts in replies:
                author = chan.messages[ts].get("user")
                if author and author not in users:
                    users.append(author)
            out.update(
                thread_ts=msg["ts"],
                reply_count=len(replies),
                reply_users_count=len(users),
                latest_reply=replies[-1],
                reply_users=users,
                subscribed=False,
            )
        return out

    def _feed_render(self, chan: Channel, msg: dict[str, Any]) -> dict[str, Any]:
        """A message as feed items and listeners see it: rendered, with its metadata."""
        return self.render(chan, msg, metadata=True)

    def render_user(self, user: User) -> dict[str, Any]:
        profile: dict[str, Any] = {
            "real_name": user.name,
            "real_name_normalized": user.name,
            "display_name": user.name,
            "display_name_normalized": user.name,
            "avatar_hash": "g0000000000",
            "title": "",
            "phone": "",
            "skype": "",
            "status_text": "",
            "status_emoji": "",
            "fields": None,
            "team": self.team_id,
            "image_48": ICON,
            "image_72": ICON,
        }
        if user.is_bot:
            profile.update(bot_id=user.bot_id, api_app_id=user.app_id, always_active=True)
        return {
            "id": user.id,
            "team_id": self.team_id,
            "name": user.name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": user.name,
            "tz": "Europe/London",
            "tz_label": "Greenwich Mean Time",
            "tz_offset": 0,
            "profile": profile,
            "is_admin": user.id == self.person.id,
            "is_owner": user.id == self.person.id,
            "is_primary_owner": user.id == self.person.id,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "updated": user.created,
        }

    def render_channel(self, chan: Channel, who: Principal | None = None) -> dict[str, Any]:
        me = who.user.id if who is not None and who.user is not None else None
        blank = {"value": "", "creator": "", "last_set": 0}
        return {
            "id": chan.id,
            "name": chan.name,
            "name_normalized": chan.name,
            "created": chan.created,
            "creator": chan.creator,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": False,
            "is_archived": False,
            "is_general": chan.is_general,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "is_member": me in chan.members,
            "unlinked": 0,
            "num_members": len(chan.members),
            "topic": dict(blank),
            "purpose": dict(blank),
            "previous_names": [],
        }

    # -- messages --------------------------------------------------------

    def _author_fields(self, who: Principal) -> dict[str, Any]:
        if who.app is not None:
            app = who.app
            return {
                "bot_id": app.bot_id,
                "app_id": app.app_id,
                "user": app.bot_user_id,
                "bot_profile": self.bot_profile(app),
            }
        assert who.user is not None
        return {"user": who.user.id}

    def _event_base(self, chan: Channel) -> dict[str, Any]:
        return {"channel": chan.id, "channel_type": "channel"}

    def post_message(
        self,
        chan: Channel,
        who: Principal,
        text: str,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
        blocks: list[Any] | None = None,
    ) -> dict[str, Any]:
        parent = None
        if thread_ts:
            parent = chan.messages.get(thread_ts)
            if parent is None:
                raise SlackError("thread_not_found")
            if parent.get("thread_ts") and parent["thread_ts"] != parent["ts"]:
                parent = chan.messages[parent["thread_ts"]]  # a reply to a reply joins the thread
        ts = self.clock.next()
        msg: dict[str, Any] = {"type": "message", "text": text, "ts": ts, "team": self.team_id}
        msg.update(self._author_fields(who))
        if blocks:
            msg["blocks"] = blocks
        if parent is not None:
            msg["thread_ts"] = parent["ts"]
            msg["parent_user_id"] = parent.get("user")
            parent.setdefault("_replies", []).append(ts)
        if metadata:
            msg["_metadata"] = metadata
        chan.messages[ts] = msg
        event = dict(msg)
        event.pop("_metadata", None)
        if metadata:
            full = self.full_metadata_events
            event["metadata"] = (copy.deepcopy(metadata) if full
                                 else {"event_type": metadata["event_type"]})
        event.update(self._event_base(chan), event_ts=ts)
        self.on_event(chan.id, event)
        self.on_feed("message_posted", {"channel": chan.id,
                                        "message": self._feed_render(chan, msg)})
        return msg

    def update_message(
        self,
        chan: Channel,
        who: Principal,
        ts: Any,
        text: str,
        metadata: dict[str, Any] | None = None,
        blocks: list[Any] | None = None,
    ) -> dict[str, Any]:
        msg = chan.messages.get(ts) if isinstance(ts, str) else None
        if msg is None:
            raise SlackError("message_not_found")
        if not self._owns(who, msg):
            raise SlackError("cant_update_message")
        previous = self.render(chan, msg)
        msg["text"] = text
        if metadata is not None:  # Slack replaces the metadata when chat.update carries some
            msg["_metadata"] = metadata
        if blocks:  # and the blocks; without any it keeps them, [] removes them
            msg["blocks"] = blocks
        elif blocks is not None:
            msg.pop("blocks", None)
        msg["edited"] = {"user": msg.get("user"), "ts": self.clock.next()}
        event_ts = msg["edited"]["ts"]
        event = {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "message": self.render(chan, msg),
            "previous_message": previous,
            "ts": event_ts,
            "event_ts": event_ts,
            **self._event_base(chan),
        }
        self.on_event(chan.id, event)
        self.on_feed("message_updated", {"channel": chan.id,
                                         "message": self._feed_render(chan, msg)})
        return msg

    def delete_message(self, chan: Channel, who: Principal, ts: Any) -> None:
        msg = chan.messages.get(ts) if isinstance(ts, str) else None
        if msg is None:
            raise SlackError("message_not_found")
        if not self._owns(who, msg):
            raise SlackError("cant_delete_message")
        previous = self.render(chan, msg)
        gone = self._feed_render(chan, msg)
        del chan.messages[ts]
        chan.pins.pop(ts, None)
        parent_ts = msg.get("thread_ts")
        if parent_ts and parent_ts != ts and parent_ts in chan.messages:
            chan.messages[parent_ts]["_replies"].remove(ts)
        event_ts = self.clock.next()
        event = {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "deleted_ts": ts,
            "previous_message": previous,
            "ts": event_ts,
            "event_ts": event_ts,
            **self._event_base(chan),
        }
        self.on_event(chan.id, event)
        self.on_feed("message_deleted", {"channel": chan.id, "ts": ts, "message": gone})

    def _owns(self, who: Principal, msg: dict[str, Any]) -> bool:
        if who.app is not None:
            return msg.get("bot_id") == who.app.bot_id
        assert who.user is not None
        return msg.get("user") == who.user.id or who.user.id == self.person.id

    def schedule(
        self,
        chan: Channel,
        who: Principal,
        text: str,
        post_at: int,
        thread_ts: str | None,
        metadata: dict[str, Any] | None = None,
    ) -> Scheduled:
        now = time.time()
        if post_at < now - 1:
            raise SlackError("time_in_past")
        if post_at > now + 120 * 86400:
            raise SlackError("time_too_far")
        item = Scheduled(
            self.ids.new("Q"), chan.id, post_at, text, who, thread_ts, int(now), metadata=metadata
        )
        self.scheduled[item.id] = item
        item.handle = self.schedule_at(post_at, lambda: self._post_scheduled(item.id))
        return item

    def _post_scheduled(self, scheduled_id: str) -> None:
        item = self.scheduled.pop(scheduled_id, None)
        if item is None:
            return
        chan = self.channels[item.channel]
        try:
            self.post_message(chan, item.author, item.text, item.thread_ts, item.metadata)
        except SlackError:
            pass  # e.g. its thread was deleted meanwhile: Slack drops it too

    def delete_scheduled(self, channel_id: Any, scheduled_id: Any, who: Principal) -> None:
        item = self.scheduled.get(scheduled_id) if isinstance(scheduled_id, str) else None
        if item is None or item.channel != channel_id or item.author.key != who.key:
            raise SlackError("invalid_scheduled_message_id")  # another app's is not found
        del self.scheduled[item.id]
        if item.handle is not None:
            item.handle.cancel()

    # -- pins ------------------------------------------------------------

    def pin(self, chan: Channel, who: Principal, ts: Any) -> None:
        msg = self.find_message(chan, ts)
        if ts in chan.pins:
            raise SlackError("already_pinned")
        assert who.user is not None
        created = int(time.time())
        chan.pins[ts] = {"created": created, "created_by": who.user.id}
        event = self._pin_event("pin_added", chan, who, msg)
        self.on_event(chan.id, event)
        self.on_feed("pin_added", {"channel": chan.id, "ts": ts, "by": who.user.id,
                                   "message": self._feed_render(chan, msg)})

    def unpin(self, chan: Channel, who: Principal, ts: Any) -> None:
        msg = self.find_message(chan, ts)
        if ts not in chan.pins:
            raise SlackError("no_pin")
        event = self._pin_event("pin_removed", chan, who, msg)
        del chan.pins[ts]
        event["item"]["message"].pop("pinned_to", None)
        event["pin_count"] = len(chan.pins)  # as Slack counts it: after the removal
        event["has_pins"] = bool(chan.pins)
        self.on_event(chan.id, event)
        assert who.user is not None
        self.on_feed("pin_removed", {"channel": chan.id, "ts": ts, "by": who.user.id,
                                     "message": self._feed_render(chan, msg)})

    def _pin_event(
        self, kind: str, chan: Channel, who: Principal, msg: dict[str, Any]
    ) -> dict[str, Any]:
        assert who.user is not None
        pin = chan.pins[msg["ts"]]
        return {
            "type": kind,
            "user": who.user.id,
            "channel_id": chan.id,
            "item": {
                "type": "message",
                "channel": chan.id,
                "message": self.render(chan, msg),
                "created": pin["created"],
                "created_by": pin["created_by"],
            },
            "item_user": msg.get("user"),
            "pin_count": len(chan.pins),
            "pinned_info": {
                "channel": chan.id,
                "pinned_by": pin["created_by"],
                "pinned_ts": pin["created"],
            },
            "event_ts": self.clock.next(),
        }

    def pin_items(self, chan: Channel) -> list[dict[str, Any]]:
        items = []
        for ts, pin in sorted(chan.pins.items(), key=lambda kv: kv[1]["created"], reverse=True):
            items.append(
                {
                    "type": "message",
                    "channel": chan.id,
                    "created": pin["created"],
                    "created_by": pin["created_by"],
                    "message": self.render(chan, chan.messages[ts]),
                }
            )
        return items

    # -- reactions -------------------------------------------------------

    def react(self, chan: Channel, who: Principal, ts: Any, name: Any, add: bool) -> None:
        msg = self.find_message(chan, ts)
        if not isinstance(name, str) or not name.strip(":"):
            raise SlackError("invalid_name")
        name = name.strip(":")
        if not emoji.is_valid(name, self.custom_emoji):
            raise SlackError("invalid_name")  # Slack checks the name: a typo fails at home
        assert who.user is not None
        uid = who.user.id
        reactions = msg.setdefault("_reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if add:
            if entry is not None and uid in entry["users"]:
                raise SlackError("already_reacted")
            if entry is None:
                entry = {"name": name, "users": []}
                reactions.append(entry)
            entry["users"].append(uid)
        else:
            if entry is None or uid not in entry["users"]:
                raise SlackError("no_reaction")
            entry["users"].remove(uid)
            if not entry["users"]:
                reactions.remove(entry)
        kind = "reaction_added" if add else "reaction_removed"
        event = {
            "type": kind,
            "user": uid,
            "reaction": name,
            "item": {"type": "message", "channel": chan.id, "ts": ts},
            "item_user": msg.get("user"),
            "event_ts": self.clock.next(),
        }
        self.on_event(chan.id, event)
        self.on_feed(kind, {"channel": chan.id, "ts": ts, "reaction": name, "user": uid,
                            "message": self._feed_render(chan, msg)})

    def join(self, chan: Channel, who: Principal) -> bool:
        """Adds the caller to the channel; False when it already was a member."""
        assert who.user is not None
        if who.user.id in chan.members:
            return False
        chan.members.append(who.user.id)
        return True
