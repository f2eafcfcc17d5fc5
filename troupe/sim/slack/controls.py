"""Fault injection and inspection: the operations behind both the Python API and /_sim/.

``SimServer`` hands ``Controls`` the parts it works on; every method runs on the
server's loop thread.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

from .emoji import check_custom_name
from .faults import Faults, Recorder
from .interactive import block_actions, find_action, home_opened_event
from .model import SlackError, User, Workspace
from .socketmode import SocketModeHub

DISCONNECT_REASONS = ("refresh_requested", "warning", "link_disabled")


class Controls:
    """The people, faults and records of one emulated workspace, as operations."""

    def __init__(self, model: Workspace, faults: Faults, recorder: Recorder, hub: SocketModeHub,
                 feed: Callable[[str, dict[str, Any]], None]) -> None:
        self.model, self.faults, self.recorder, self.hub = model, faults, recorder, hub
        self.feed = feed

    def _app_name(self, app: Any) -> str:
        if not isinstance(app, str) or app not in self.model.apps:
            raise KeyError(f"unknown app {app!r}; apps are {sorted(self.model.apps)}")
        return app

    # -- people ----------------------------------------------------------

    def add_user(self, name: str) -> dict[str, str]:
        return self.model.add_user(str(name)).public()

    def add_emoji(self, name: str) -> str:
        """Adds a custom emoji: ``reactions.add`` accepts its name from now on."""
        name = check_custom_name(str(name))
        self.model.custom_emoji.add(name)
        return name

    def post(self, text: str, user: str | None = None, thread_ts: str | None = None) -> str:
        model = self.model
        who_user = model.person
        if user:
            found = model.users.get(user) or next(
                (u for u in model.users.values() if u.name == user and not u.is_bot), None
            )
            if found is None or found.is_bot:
                raise KeyError(f"unknown person {user!r}")
            who_user = found
        who = model.principal(who_user.token)
        msg = model.post_message(model.home, who, str(text), thread_ts or None)
        return msg["ts"]

    def _person(self, user: str | None) -> User:
        if not user:
            return self.model.person
        found = self.model.users.get(user) or next(
            (u for u in self.model.users.values() if u.name == user and not u.is_bot), None)
        if found is None or found.is_bot:
            raise KeyError(f"unknown person {user!r}")
        return found

    # -- clicks and the Home tab -------------------------------------------

    def _interact(self, app_name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Sends the click to its app; ``delivered`` False: the app has no usable connection
        (gone, cut off), and the person sees the click fail, as in Slack."""
        copies = 2 if self.faults.duplicate else 1
        sent = [self.hub.send_to(app_name, copy.deepcopy(payload), "interactive")
                for _ in range(copies)]
        action = payload["actions"][0]
        self.feed("interaction", {"app": app_name, "user": payload["user"]["id"],
                                  "action_id": action["action_id"],
                                  "action_ts": action["action_ts"], "delivered": any(sent)})
        return {"app": app_name, "action_ts": action["action_ts"], "delivered": any(sent)}

    def click(self, message_ts: str, action_id: str, value: str | None = None,
              user: str | None = None) -> dict[str, Any]:
        """A person clicks a button on a message: its app (only) gets ``block_actions``."""
        model, chan = self.model, self.model.home
        msg = chan.messages.get(message_ts) if isinstance(message_ts, str) else None
        if msg is None:
            raise KeyError(f"no message {message_ts!r} in #{chan.name}")
        app = next((a for a in model.apps.values() if a.bot_id == msg.get("bot_id")), None)
        if app is None:
            raise ValueError(f"message {message_ts} was not posted by an app: nothing to click")
        who = self._person(user)
        if who.id not in chan.members:
            raise ValueError(f"{who.name} is not in #{chan.name}")
        block_id, element = find_action(msg.get("blocks") or [], str(action_id))
        where = {
            "container": {"type": "message", "message_ts": message_ts, "channel_id": chan.id,
                          "is_ephemeral": False},
            "channel": {"id": chan.id, "name": chan.name},
            "message": model.render(chan, msg),
        }
        if msg.get("thread_ts") and msg["thread_ts"] != message_ts:
            where["container"]["thread_ts"] = msg["thread_ts"]
        payload = block_actions(model, app, who, block_id, element,
                                None if value is None else str(value), where)
        return self._interact(app.name, payload)

    def click_home(self, app: str, action_id: str, value: str | None = None,
                   user: str | None = None) -> dict[str, Any]:
        """A person clicks a button on the app's Home tab (the view it published for them)."""
        app_obj = self.model.apps[self._app_name(app)]
        who = self._person(user)
        view = self.model.views.get((app_obj.name, who.id))
        if view is None:
            raise KeyError(f"{app} published no Home view for {who.name}")
        block_id, element = find_action(view["blocks"], str(action_id))
        where = {"container": {"type": "view", "view_id": view["id"]},
                 "view": copy.deepcopy(view)}
        payload = block_actions(self.model, app_obj, who, block_id, element,
                                None if value is None else str(value), where)
        return self._interact(app_obj.name, payload)

    def home_view(self, app: str, user: str | None = None) -> dict[str, Any] | None:
        view = self.model.views.get((self._app_name(app), self._person(user).id))
        return copy.deepcopy(view)

    async def open_home(self, app: str, user: str | None = None,
                        timeout: float = 10.0) -> dict[str, Any]:
        """A person opens the app's Home tab: the app gets ``app_home_opened``; returns the view
        it publishes for them next, waiting up to ``timeout`` seconds (TimeoutError)."""
        app_obj = self.model.apps[self._app_name(app)]
        who = self._person(user)
        before = self.model.views.get((app_obj.name, who.id))
        stamp = before["hash"] if before else None
        event = home_opened_event(self.model, app_obj, who)
        self.hub.send_to(app_obj.name, self.hub.event_payload(app_obj.name, event))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(timeout)
        while loop.time() < deadline:
            now = self.model.views.get((app_obj.name, who.id))
            if now is not None and now["hash"] != stamp:
                return copy.deepcopy(now)
            await asyncio.sleep(0.02)
        raise TimeoutError(f"{app} published no Home view for {who.name} "
                           f"within {timeout:g} s of app_home_opened")

    # -- faults ----------------------------------------------------------

    async def close_connections(self, app: str, disconnect: str | None) -> int:
        if disconnect is not None and disconnect not in DISCONNECT_REASONS:
            raise ValueError(f"disconnect must be None or one of {DISCONNECT_REASONS}")
        return await self.hub.close_connections(self._app_name(app), disconnect)

    async def refresh(self, app: str) -> bool:
        """Slack's refresh of the app's oldest connection (see SocketModeHub.refresh)."""
        return await self.hub.refresh(self._app_name(app))

    def cut_off(self, app: str) -> None:
        self.faults.cut_off(self._app_name(app))
        self.feed("app_cut_off", {"app": app})

    def restore(self, app: str) -> None:
        self.faults.restore(self._app_name(app))
        self.feed("app_restored", {"app": app})
        self.hub.flush(app)

    def set_event_delay(self, ms: float) -> None:
        self.faults.event_delay_ms = float(ms)

    def duplicate_events(self, enabled: bool) -> None:
        self.faults.duplicate = bool(enabled)

    def fail_method(
        self,
        method: str,
        mode: str = "5xx",
        error: str = "internal_error",
        count: int = 1,
        app: str | None = None,
        status: int = 500,
    ) -> None:
        if app is not None:
            self._app_name(app)
        self.faults.fail_method(method, mode, error, count, app, status)

    def set_latency(self, ms: float) -> None:
        self.faults.latency_ms = float(ms)

    # -- inspection ------------------------------------------------------

    def messages(self, thread_ts: str | None = None) -> list[dict[str, Any]]:
        chan = self.model.home
        out = []
        for ts in sorted(chan.messages, key=float):
            msg = chan.messages[ts]
            in_thread = msg.get("thread_ts")
            if thread_ts is None and in_thread not in (None, ts):
                continue
            if thread_ts is not None and in_thread != thread_ts:
                continue
            out.append(self.model.render(chan, msg, metadata=True))
        return out

    def scheduled(self) -> list[dict[str, Any]]:
        """Every app's scheduled messages (Slack shows each app only its own)."""
        return [
            {"id": s.id, "channel_id": s.channel, "post_at": s.post_at, "text": s.text,
             "author": s.author.key}
            for s in sorted(self.model.scheduled.values(), key=lambda s: (s.post_at, s.id))
        ]

    def pins(self) -> list[dict[str, Any]]:
        return self.model.pin_items(self.model.home)

    def reactions(self, ts: str) -> list[dict[str, Any]]:
        try:
            msg = self.model.find_message(self.model.home, ts)
        except SlackError:
            return []
        return [
            {"name": r["name"], "users": list(r["users"]), "count": len(r["users"])}
            for r in msg.get("_reactions", [])
        ]

    def call_counts(self) -> dict[str, dict[str, int]]:
        return self.recorder.call_counts()

    def connections(self, app: str) -> int:
        return self.hub.connections(self._app_name(app))

    def apps(self) -> list[dict[str, Any]]:
        return [
            {
                "name": a.name,
                "app_id": a.app_id,
                "bot_id": a.bot_id,
                "bot_user_id": a.bot_user_id,
                "connections": self.hub.connections(a.name),
                "cut_off": self.faults.is_cut(a.name),
                "pending_envelopes": len(self.hub.pending.get(a.name, {})),
            }
            for a in self.model.apps.values()
        ]

    def log(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "calls": list(self.recorder.calls),
            "deliveries": list(self.recorder.deliveries),
        }
