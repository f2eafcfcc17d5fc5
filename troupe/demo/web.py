"""The demo's web side: the page, a JSON API and a websocket of live changes, on 127.0.0.1 only.

    GET  /                         the page (static files from troupe/demo/static)
    GET  /api/state                everything the page shows, as one JSON object
    GET  /api/events               websocket: {"type": "snapshot", ...} then one object per change
    POST /api/say                  {"text", "thread_ts"?}: post in the channel as the person
    POST /api/pis/<pi>/<action>    kill | restart | cut_off | restore
    POST /api/trap                 {"armed": bool}: kill the Pi that claims the next command
    POST /api/sensors/<sensor>     {"active": bool} (or {} to pulse motion / open-close a door)
    POST /api/click                {"ts", "action_id"}: the person clicks a button on a message
    POST /api/home/<pi>            the person opens the Pi's Home tab: {"blocks"} it published
    POST /api/home/<pi>/click      {"action_id"}: a click on that Home tab

Requests must name the demo's own address as Host (no DNS rebinding), and a
POST must be JSON from the page's own origin (no cross-site form posts).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web

from troupe.demo.errors import DemoError

STATIC = Path(__file__).parent / "static"
DEMO_KEY = web.AppKey("demo", object)
HOSTS_KEY = web.AppKey("allowed_hosts", set)


class DemoActions(Protocol):
    """What the page asks of the demo (``troupe.demo.app.Demo``); each action raises
    ``DemoError`` when it cannot be carried out."""

    page: Page

    def snapshot(self) -> dict[str, Any]: ...

    async def say(self, text: str, thread_ts: str | None = None) -> str: ...

    async def pi_action(self, name: str, action: str) -> dict[str, Any]: ...

    def arm_trap(self, armed: bool) -> None: ...

    async def drive_sensor(self, key: str, active: bool | None) -> dict[str, Any]: ...

    async def click(self, ts: str, action_id: str) -> dict[str, Any]: ...

    async def open_home(self, name: str) -> list[dict[str, Any]]: ...

    async def click_home(self, name: str, action_id: str) -> dict[str, Any]: ...


def _fail(message: str, status: int) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=status)


@web.middleware
async def local_only(request: web.Request, handler: Any) -> web.StreamResponse:
    allowed: set[str] = request.app[HOSTS_KEY]
    if request.host not in allowed:
        return _fail(f"this demo answers only as {' or '.join(sorted(allowed))}", 403)
    origin = request.headers.get("Origin")
    if origin is not None and origin not in {f"http://{h}" for h in allowed}:
        return _fail(f"requests from {origin} are not allowed", 403)
    if request.method == "POST" and request.content_type != "application/json":
        return _fail("send JSON (Content-Type: application/json)", 415)
    try:
        return await handler(request)
    except DemoError as e:
        return _fail(str(e), e.status)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text() or "{}")
    except ValueError:
        raise DemoError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise DemoError("the body must be a JSON object")
    return body


def build_app(demo: DemoActions) -> web.Application:
    app = web.Application(middlewares=[local_only], client_max_size=64 * 1024)
    app[DEMO_KEY] = demo
    app[HOSTS_KEY] = set()

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def state(request: web.Request) -> web.Response:
        return web.json_response(demo.snapshot())

    async def say(request: web.Request) -> web.Response:
        body = await _json(request)
        text = body.get("text")
        thread = body.get("thread_ts")
        if not isinstance(text, str) or not text.strip():
            raise DemoError("text: type something to say")
        if thread is not None and not isinstance(thread, str):
            raise DemoError("thread_ts: the ts of the message to answer in the thread of")
        ts = await demo.say(text.strip(), thread)
        return web.json_response({"ok": True, "ts": ts})

    async def pi_action(request: web.Request) -> web.Response:
        name, action = request.match_info["name"], request.match_info["action"]
        return web.json_response({"ok": True, "pi": await demo.pi_action(name, action)})

    async def trap(request: web.Request) -> web.Response:
        body = await _json(request)
        armed = body.get("armed", True)
        if not isinstance(armed, bool):
            raise DemoError("armed: true or false")
        demo.arm_trap(armed)
        return web.json_response({"ok": True, "armed": armed})

    async def sensor(request: web.Request) -> web.Response:
        body = await _json(request)
        active = body.get("active")
        if active is not None and not isinstance(active, bool):
            raise DemoError("active: true, false, or leave it out to pulse")
        result = await demo.drive_sensor(request.match_info["name"], active)
        return web.json_response({"ok": True, "sensor": result})

    async def click(request: web.Request) -> web.Response:
        body = await _json(request)
        ts, action_id = body.get("ts"), body.get("action_id")
        if not isinstance(ts, str) or not isinstance(action_id, str):
            raise DemoError("ts and action_id: the message and the button clicked")
        return web.json_response({"ok": True, "click": await demo.click(ts, action_id)})

    async def open_home(request: web.Request) -> web.Response:
        blocks = await demo.open_home(request.match_info["name"])
        return web.json_response({"ok": True, "blocks": blocks})

    async def click_home(request: web.Request) -> web.Response:
        body = await _json(request)
        action_id = body.get("action_id")
        if not isinstance(action_id, str):
            raise DemoError("action_id: the button clicked")
        result = await demo.click_home(request.match_info["name"], action_id)
        return web.json_response({"ok": True, "click": result})

    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        queue = demo.page.subscribe(ws)
        pump = asyncio.ensure_future(_pump(ws, queue))
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            demo.page.unsubscribe(ws)
            pump.cancel()
        return ws

    app.router.add_get("/", index)
    app.router.add_get("/api/state", state)
    app.router.add_get("/api/events", events)
    app.router.add_post("/api/say", say)
    app.router.add_post("/api/pis/{name}/{action}", pi_action)
    app.router.add_post("/api/trap", trap)
    app.router.add_post("/api/sensors/{name}", sensor)
    app.router.add_post("/api/click", click)
    app.router.add_post("/api/home/{name}", open_home)
    app.router.add_post("/api/home/{name}/click", click_home)
    app.router.add_static("/static/", STATIC, append_version=False)
    return app


async def _pump(ws: web.WebSocketResponse, queue: asyncio.Queue[str]) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        while not ws.closed:
            await ws.send_str(await queue.get())


class Page:
    """The open pages: each gets the snapshot, then every change, in order."""

    def __init__(self, snapshot: Any) -> None:
        self.snapshot = snapshot
        self.queues: dict[web.WebSocketResponse, asyncio.Queue[str]] = {}

    def subscribe(self, ws: web.WebSocketResponse) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        queue.put_nowait(json.dumps({"type": "snapshot", **self.snapshot()}))
        self.queues[ws] = queue
        return queue

    def unsubscribe(self, ws: web.WebSocketResponse) -> None:
        self.queues.pop(ws, None)

    def send(self, event: dict[str, Any]) -> None:
        data = json.dumps(event)
        for queue in self.queues.values():
            queue.put_nowait(data)

    async def close(self) -> None:
        """Close every open page's feed (the server cannot stop while they are open)."""
        sockets, self.queues = list(self.queues), {}
        for ws in sockets:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=WSCloseCode.GOING_AWAY,
                                                message=b"the demo stopped"), 2)
