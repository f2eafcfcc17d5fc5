"""The HTTP side: /api/<method> for the Web API, /link/ for Socket Mode, /_sim/ for admin.

``SimServer`` owns the state and runs on one asyncio loop; everything that
touches state runs on that loop.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import web

from . import webapi
from .admin import admin_routes
from .controls import Controls
from .faults import Faults, Recorder
from .model import SlackError, Workspace
from .ratelimit import RateLimiter
from .socketmode import SocketModeHub

MAX_BODY = 2 * 1024 * 1024
MAX_HANG = 600.0

log = logging.getLogger(__name__)

# The feed item types that are changes in a channel; the others are about apps
# (app_connected, app_disconnected, app_cut_off, app_restored) or ephemeral.
CHANNEL_EVENTS = frozenset({
    "message_posted", "message_updated", "message_deleted",
    "pin_added", "pin_removed", "reaction_added", "reaction_removed",
})

Listener = Callable[[dict[str, Any]], None]


class ArgsError(Exception):
    def __init__(self, error: str, status: int = 200) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


def slack_json(body: dict[str, Any], status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        text=json.dumps(body),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers or None,
    )


async def read_args(request: web.Request) -> dict[str, Any]:
    """Merges query string and body (form-encoded, multipart or JSON) into one dict."""
    args: dict[str, Any] = dict(request.query)
    if not request.can_read_body:
        return args
    try:
        ctype = request.content_type
        if ctype == "multipart/form-data":
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
            return args
        raw = await request.read()
        if ctype == "application/json":
            try:
                body = json.loads(raw.decode("utf-8") or "{}")
            except ValueError:
                raise ArgsError("invalid_json") from None
            if not isinstance(body, dict):
                raise ArgsError("json_not_object")
            args.update(body)
        elif raw:
            text = raw.decode("utf-8")
            args.update(dict(urllib.parse.parse_qsl(text, keep_blank_values=True)))
    except web.HTTPRequestEntityTooLarge:
        raise ArgsError("request_too_large", 413) from None
    except UnicodeDecodeError:
        raise ArgsError("invalid_charset") from None
    except ArgsError:
        raise
    except Exception:
        raise ArgsError("invalid_form_data") from None
    return args


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


class SimServer:
    def __init__(
        self,
        apps: int = 3,
        channel: str = "home",
        rate_limits: str = "real",
        latency_ms: int = 0,
        ack_timeout: float = 3.0,
        full_metadata_events: bool = False,
        hold_limit: float = 60.0,
    ) -> None:
        if rate_limits not in ("real", "off"):
            raise ValueError("rate_limits must be 'real' or 'off'")
        self.model = Workspace(channel=channel, apps=apps)
        self.model.full_metadata_events = full_metadata_events
        self.faults = Faults(latency_ms=latency_ms)
        self.recorder = Recorder()
        self.limiter = RateLimiter(enabled=rate_limits == "real")
        self.feed_log: deque[dict[str, Any]] = deque(maxlen=1000)
        self._feed_seq = 0
        self.subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        # Replaced, never mutated, so any thread may add or remove while the loop reads.
        self._listeners: tuple[tuple[Listener, frozenset[str] | None], ...] = ()
        self._pending: deque[dict[str, Any]] = deque()
        self._dispatching = False
        self.hub = SocketModeHub(
            self.model, self.faults, self.recorder, self.feed, ack_timeout=ack_timeout,
            hold_limit=hold_limit,
        )
        self.model.on_event = self.hub.dispatch
        self.model.on_feed = self.feed
        self.model.schedule_at = self._schedule_at
        self.controls = Controls(self.model, self.faults, self.recorder, self.hub, self.feed)
        self.base_url = ""

    def info(self) -> dict[str, Any]:
        """What a client needs to connect: the JSON line `troupe sim` prints."""
        model = self.model
        return {
            "api_url": self.base_url + "api/",
            "admin_url": self.base_url + "_sim/",
            "team_id": model.team_id,
            "channel": {"id": model.home.id, "name": model.home.name},
            "user": model.person.public(),
            "apps": [a.public() for a in model.apps.values()],
        }

    def _schedule_at(self, when: float, fn: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, when - time.time()), fn)

    def add_listener(self, fn: Listener, types: Any = None) -> None:
        """``fn(item)`` for every feed item (of ``types``, if given) from now on; see
        ``SlackWorkspace.add_listener``."""
        wanted = None if types is None else frozenset(types)
        self._listeners = (*self._listeners, (fn, wanted))

    def remove_listener(self, fn: Listener) -> bool:
        """Stops calling ``fn`` (compared with ``==``, so ``seen.append`` works); False if it
        was not listening."""
        kept = tuple(pair for pair in self._listeners if pair[0] != fn)
        found = len(kept) != len(self._listeners)
        self._listeners = kept
        return found

    def feed(self, kind: str, data: dict[str, Any]) -> None:
        """Publishes a workspace change to the admin live feed and the listeners."""
        self._feed_seq += 1
        item = {"seq": self._feed_seq, "time": time.time(), "type": kind, **data}
        self.feed_log.append(item)
        for queue in list(self.subscribers):
            queue.put_nowait(item)
        if not self._listeners:
            return
        self._pending.append(item)
        if self._dispatching:
            return  # a listener caused this change: it is delivered after the current one
        self._dispatching = True
        try:
            while self._pending:
                self._notify(self._pending.popleft())
        finally:
            self._dispatching = False

    def _notify(self, item: dict[str, Any]) -> None:
        for fn, types in self._listeners:
            if types is not None and item["type"] not in types:
                continue
            try:
                fn(copy.deepcopy(item))
            except Exception:  # a listener's bug must not break the call that made the change
                log.exception("Slack emulator listener %r failed on %s", fn, item["type"])

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/api/{method}", self.api)
        app.router.add_get("/link/", self.hub.handle)
        app.router.add_routes(
            admin_routes(self.controls, self.info, self.feed_log, self.subscribers)
        )
        return app

    async def _hang(self, request: web.Request, until: Callable[[], bool] | None = None) -> bool:
        """Holds a request open; True once ``until()`` holds, False if the client left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_HANG
        while loop.time() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                return False
            if until is not None and until():
                return True
            await asyncio.sleep(0.05)
        return False

    async def api(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["method"]
        if request.method not in ("GET", "POST", "HEAD"):
            # The Web API is RPC over GET and POST; other verbs are refused by HTTP.
            return slack_json(
                {"ok": False, "error": "method_not_allowed"}, status=405, Allow="GET, POST"
            )
        try:
            args = await read_args(request)
        except ArgsError as err:
            return slack_json({"ok": False, "error": err.error}, status=err.status)
        tok = bearer(request) or args.get("token")
        if name not in webapi.HANDLERS:
            self.recorder.call("?", name, args, "unknown_method")
            return slack_json({"ok": False, "error": "unknown_method", "req_method": name})
        try:
            who = self.model.principal(tok if isinstance(tok, str) else None)
        except SlackError as err:
            self.recorder.call("?", name, args, err.error)
            return slack_json({"ok": False, "error": err.error})
        key = who.key
        if self.faults.is_cut(key):
            if not await self._hang(request, lambda: not self.faults.is_cut(key)):
                self.recorder.call(key, name, args, "lost:cut_off")
                return web.Response(status=504)
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000.0)
        channel = args.get("channel") if isinstance(args.get("channel"), str) else ""
        retry_after = self.limiter.check(key, name, channel or "")
        if retry_after:
            self.recorder.call(key, name, args, "429")
            limited = {"ok": False, "error": "ratelimited"}
            return slack_json(limited, status=429, **{"Retry-After": str(retry_after)})
        rule = self.faults.take_rule(name, key)
        lost = rule is not None and rule.mode == "lost_answer"
        if rule is not None and not lost:
            self.recorder.call(key, name, args, f"fault:{rule.mode}:{rule.error}")
            if rule.mode == "hang":
                await self._hang(request)
                return web.Response(status=504)
            if rule.mode == "5xx":
                return slack_json({"ok": False, "error": rule.error}, status=rule.status)
            if rule.error == "ratelimited":
                return slack_json(
                    {"ok": False, "error": "ratelimited"}, status=429, **{"Retry-After": "1"}
                )
            return slack_json({"ok": False, "error": rule.error})
        ctx = webapi.Ctx(self.model, who, self.hub.issue_url)
        try:
            result = webapi.call(ctx, name, args)
        except Exception as exc:  # a bug here must not take the server down
            self.recorder.call(key, name, args, f"internal_error:{exc!r}")
            return slack_json({"ok": False, "error": "internal_error"}, status=500)
        outcome = "ok" if result["ok"] else result["error"]
        self.recorder.call(key, name, args, f"fault:lost_answer:{outcome}" if lost else outcome)
        if lost:  # applied, but its answer never arrives
            return slack_json({"ok": False, "error": rule.error}, status=rule.status)
        return slack_json(result)
