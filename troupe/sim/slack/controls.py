"""Fault injection and inspection: the operations behind both the Python API and /_sim/.

A mixin of ``SimServer``; every method runs on the server's loop thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model import SlackError

if TYPE_CHECKING:
    from .server import SimServer

DISCONNECT_REASONS = ("refresh_requested", "warning", "link_disabled")


class Controls:
    def _app_name(self: SimServer, app: Any) -> str:
        if not isinstance(app, str) or app not in self.model.apps:
            raise KeyError(f"unknown app {app!r}; apps are {sorted(self.model.apps)}")
        return app

    # -- people ----------------------------------------------------------

    def ctl_add_user(self: SimServer, name: str) -> dict[str, str]:
        return self.model.add_user(str(name)).public()

    def ctl_post(
        self: SimServer, text: str, user: str | None = None, thread_ts: str | None = None
    ) -> str:
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

    async def ctl_close_connections(self: SimServer, app: str, disconnect: str | None) -> int:
        if disconnect is not None and disconnect not in DISCONNECT_REASONS:
            raise ValueError(f"disconnect must be None or one of {DISCONNECT_REASONS}")
        return await self.hub.close_connections(self._app_name(app), disconnect)

    def ctl_cut_off(self: SimServer, app: str) -> None:
        self.faults.cut_off(self._app_name(app))
        self.feed("app_cut_off", {"app": app})

    def ctl_restore(self: SimServer, app: str) -> None:
        self.faults.restore(self._app_name(app))
        self.feed("app_restored", {"app": app})
        self.hub.flush(app)

    def ctl_set_event_delay(self: SimServer, ms: float) -> None:
        self.faults.event_delay_ms = float(ms)

    def ctl_duplicate_events(self: SimServer, enabled: bool) -> None:
        self.faults.duplicate = bool(enabled)

    def ctl_fail_method(
        self: SimServer,
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

    def ctl_set_latency(self: SimServer, ms: float) -> None:
        self.faults.latency_ms = float(ms)

    # -- inspection ------------------------------------------------------

    def ctl_messages(self: SimServer, thread_ts: str | None = None) -> list[dict[str, Any]]:
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

    def ctl_pins(self: SimServer) -> list[dict[str, Any]]:
        return self.model.pin_items(self.model.home)

    def ctl_reactions(self: SimServer, ts: str) -> list[dict[str, Any]]:
        try:
            msg = self.model.find_message(self.model.home, ts)
        except SlackError:
            return []
        return [
            {"name": r["name"], "users": list(r["users"]), "count": len(r["users"])}
            for r in msg.get("_reactions", [])
        ]

    def ctl_call_counts(self: SimServer) -> dict[str, dict[str, int]]:
        return self.recorder.call_counts()

    def ctl_connections(self: SimServer, app: str) -> int:
        return self.hub.connections(self._app_name(app))

    def ctl_apps(self: SimServer) -> list[dict[str, Any]]:
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

    def ctl_log(self: SimServer) -> dict[str, list[dict[str, Any]]]:
        return {
            "calls": list(self.recorder.calls),
            "deliveries": list(self.recorder.deliveries),
        }
