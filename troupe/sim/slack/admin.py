"""/_sim/: the admin HTTP API (faults, inspection) and the live feed websocket."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import WSMsgType, web

from .controls import Controls


def _ok(data: Any = None) -> web.Response:
    return web.json_response({"ok": True, **({"result": data} if data is not None else {})})


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


def _refusal(request: web.Request) -> web.Response | None:
    """Refuses a request a web page on another site made (the emulator's admin API changes
    the workspace: a page the tester happens to open must not be able to cut a Pi off).

    A browser names the page's origin (``Origin``) and whether it is another site
    (``Sec-Fetch-Site``); a POST must carry a JSON body, which no page can send to
    another origin without a CORS preflight that the emulator never answers.
    """
    origin = request.headers.get("Origin")
    if origin is not None and urllib.parse.urlsplit(origin).netloc != request.host:
        return _bad(f"cross-site request from {origin} refused", 403)
    if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
        return _bad("cross-site request refused", 403)
    if request.method == "POST" and request.content_type != "application/json":
        return _bad("the admin API takes a JSON body (Content-Type: application/json)", 415)
    return None


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


def admin_routes(
    controls: Controls,
    info: Callable[[], dict[str, Any]],
    feed_log: Iterable[dict[str, Any]],
    subscribers: set[asyncio.Queue[dict[str, Any]]],
) -> list[web.RouteDef]:
    """GET for state, POST (JSON body) for faults; errors are 400 with a message.

    ``info`` is what a client needs to connect, ``feed_log`` the recent feed items,
    and ``subscribers`` the feed's queues: /_sim/events adds one per open socket.
    """

    def post(path: str, action: Any) -> web.RouteDef:
        async def handler(request: web.Request) -> web.Response:
            refused = _refusal(request)
            if refused is not None:
                return refused
            try:
                body = await _body(request)
                result = action(body)
                if asyncio.iscoroutine(result):
                    result = await result
            except (KeyError, ValueError, TypeError, TimeoutError) as exc:
                return _bad(str(exc))
            return _ok(result)

        return web.post("/_sim/" + path, handler)

    def get(path: str, action: Any) -> web.RouteDef:
        async def handler(request: web.Request) -> web.Response:
            refused = _refusal(request)
            if refused is not None:
                return refused
            try:
                return web.json_response(action(request.query))
            except (KeyError, ValueError, TypeError) as exc:
                return _bad(str(exc))

        return web.get("/_sim/" + path, handler)

    async def events(request: web.Request) -> web.StreamResponse:
        refused = _refusal(request)
        if refused is not None:
            return refused
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        subscribers.add(queue)

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
            subscribers.discard(queue)
            task.cancel()
        return ws

    c = controls
    return [
        get("", lambda q: info()),
        get("info", lambda q: info()),
        get("messages", lambda q: c.messages(q.get("thread_ts"))),
        get("pins", lambda q: c.pins()),
        get("scheduled", lambda q: c.scheduled()),
        get("reactions", lambda q: c.reactions(q["ts"])),
        get("counts", lambda q: c.call_counts()),
        get("apps", lambda q: c.apps()),
        get("log", lambda q: c.log()),
        get("feed", lambda q: [i for i in feed_log if i["seq"] > int(q.get("since", 0))]),
        web.get("/_sim/events", events),
        post("users", lambda b: c.add_user(b["name"])),
        post("post", lambda b: c.post(b["text"], b.get("user"), b.get("thread_ts"))),
        post(
            "close_connections",
            lambda b: c.close_connections(b["app"], b.get("disconnect")),
        ),
        post("cut_off", lambda b: c.cut_off(b["app"])),
        post("refresh", lambda b: c.refresh(b["app"])),
        post("restore", lambda b: c.restore(b["app"])),
        post("event_delay", lambda b: c.set_event_delay(b["ms"])),
        post("duplicate_events", lambda b: c.duplicate_events(b.get("enabled", True))),
        post(
            "fail_method",
            lambda b: c.fail_method(
                b["method"],
                b.get("mode", "5xx"),
                b.get("error", "internal_error"),
                int(b.get("count", 1)),
                b.get("app"),
                int(b.get("status", 500)),
            ),
        ),
        post("latency", lambda b: c.set_latency(b["ms"])),
        post("emoji", lambda b: c.add_emoji(b["name"])),
        post("click", lambda b: c.click(b["message_ts"], b["action_id"], b.get("value"),
                                        b.get("user"))),
        post("click_home", lambda b: c.click_home(b["app"], b["action_id"], b.get("value"),
                                                  b.get("user"))),
        post("open_home", lambda b: c.open_home(b["app"], b.get("user"),
                                                float(b.get("timeout", 10.0)))),
        get("home", lambda q: c.home_view(q["app"], q.get("user"))),
    ]
