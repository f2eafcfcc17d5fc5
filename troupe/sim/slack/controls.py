"""Fault injection and inspection: the operations behind both the Python API and /_sim/.

``SimServer`` hands ``Controls`` the parts it works on; every method runs on the
server's loop thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .emoji import check_custom_name
from .faults import Faults, Recorder
from .model import SlackError, Workspace
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
