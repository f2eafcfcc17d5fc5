"""/_sim/: the admin HTTP API (faults, inspection) and the live feed websocket."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .server import SimServer


def _ok(data: Any = None) -> web.Response:
    return web.json_response({"ok": True, **({"result": data} if data is not None else {})})


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = json.loads(await request.text() or "{}")
    except ValueError:
        raise ValueError("body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def admin_routes(server: SimServer) -> list[web.RouteDef]:
    """GET for state, POST (JSON body) for faults; errors are 400 with a message."""

    def post(path: str, action: Any) -> web.RouteDef:
        async def handler(request: web.Request) -> web.Response:
            try:
                body = await _body(request)
                result = action(body)
                if asyncio.iscoroutine(result):
                    result = await result
            except (KeyError, ValueError, TypeError) as exc:
                return _bad(str(exc))
            return _ok(result)

        return web.post("/_sim/" + path, handler)

    def get(path: str, action: Any) -> web.RouteDef:
        async def handler(request: web.Request) -> web.Response:
            try:
                return web.json_response(action(request.query))
            except (KeyError, ValueError, TypeError) as exc:
                return _bad(str(exc))

        return web.get("/_sim/" + path, handler)

    async def events(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        server.subscribers.add(queue)

        async def pump() -> None:
            while True:
                item = await queue.get()
                await ws.send_str(json.dumps(item))

        task = asyncio.ensure_future(pump())
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            server.subscribers.discard(queue)
            task.cancel()
        return ws

    s = server
    return [
        get("", lambda q: s.info()),
        get("info", lambda q: s.info()),
        get("messages", lambda q: s.ctl_messages(q.get("thread_ts"))),
        get("pins", lambda q: s.ctl_pins()),
        get("reactions", lambda q: s.ctl_reactions(q["ts"])),
        get("counts", lambda q: s.ctl_call_counts()),
        get("apps", lambda q: s.ctl_apps()),
        get("log", lambda q: s.ctl_log()),
        get("feed", lambda q: [i for i in s.feed_log if i["seq"] > int(q.get("since", 0))]),
        web.get("/_sim/events", events),
        post("users", lambda b: s.ctl_add_user(b["name"])),
        post("post", lambda b: s.ctl_post(b["text"], b.get("user"), b.get("thread_ts"))),
        post(
            "close_connections",
            lambda b: s.ctl_close_connections(b["app"], b.get("disconnect")),
        ),
        post("cut_off", lambda b: s.ctl_cut_off(b["app"])),
        post("restore", lambda b: s.ctl_restore(b["app"])),
        post("event_delay", lambda b: s.ctl_set_event_delay(b["ms"])),
        post("duplicate_events", lambda b: s.ctl_duplicate_events(b.get("enabled", True))),
        post(
            "fail_method",
            lambda b: s.ctl_fail_method(
                b["method"],
                b.get("mode", "5xx"),
                b.get("error", "internal_error"),
                int(b.get("count", 1)),
                b.get("app"),
                int(b.get("status", 500)),
            ),
        ),
        post("latency", lambda b: s.ctl_set_latency(b["ms"])),
    ]
