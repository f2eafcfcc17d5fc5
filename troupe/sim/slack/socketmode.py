"""Socket Mode: tickets, websocket connections, envelopes, acks and retries.

Each app receives its own copy of every event in the channels it belongs to;
with several open connections, each envelope goes to just one of them (round
robin). An envelope that is not acknowledged within ``ack_timeout`` seconds is
sent again with ``retry_attempt`` + 1 and ``retry_reason`` "timeout", up to
``max_retries`` times, then dropped. Envelopes that find no usable connection
(the app is cut off or has none open) wait for one, for at most ``hold_limit``
seconds; an interaction (a click) does not wait: it fails at once, as Slack shows a click
on the message of an app that is not connected.

A refresh (``refresh``, or every ``refresh_every`` seconds) is what Slack does now
and then: it sends one connection ``disconnect`` / ``refresh_requested``, sends it
no more envelopes, and closes it shortly after; the app is expected to open another.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .faults import Faults, Recorder
from .model import Workspace


@dataclass
class Conn:
    id: str
    app: str
    ws: web.WebSocketResponse
    outbox: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    opened: float = field(default_factory=time.time)
    draining: bool = False  # told to disconnect: no new envelopes


@dataclass
class Pending:
    app: str
    envelope: dict[str, Any]
    created: float = field(default_factory=time.monotonic)
    timer: asyncio.TimerHandle | None = None
    sent: bool = False
    attempts: int = 0  # redeliveries so far (events_api envelopes also say so themselves)
    hold: bool = True  # wait for a connection; a click is not held: it fails at once


class SocketModeHub:
    def __init__(
        self,
        workspace: Workspace,
        faults: Faults,
        recorder: Recorder,
        feed: Any,
        ack_timeout: float = 3.0,
        max_retries: int = 3,
        hold_limit: float = 60.0,
        disconnect_grace: float = 1.0,
        ping_interval: float = 10.0,
    ) -> None:
        self.workspace = workspace
        self.faults = faults
        self.recorder = recorder
        self.feed = feed
        self.ack_timeout = ack_timeout
        self.max_retries = max_retries
        self.hold_limit = hold_limit
        self.disconnect_grace = disconnect_grace
        self.ping_interval = ping_interval
        self.base_ws_url = ""
        self.tickets: dict[str, str] = {}
        self.conns: dict[str, list[Conn]] = {}
        self.pending: dict[str, dict[str, Pending]] = {}
        self._rr: dict[str, int] = {}
        self._tasks: set[asyncio.Future[Any]] = set()

    # -- public operations ----------------------------------------------

    def issue_url(self, app: str) -> str:
        ticket = secrets.token_hex(16)
        self.tickets[ticket] = app
        app_id = self.workspace.apps[app].app_id
        return f"{self.base_ws_url}link/?ticket={ticket}&app_id={app_id}"

    def connections(self, app: str) -> int:
        return len(self.conns.get(app, []))

    async def close_connections(self, app: str, disconnect: str | None = None) -> int:
        conns = list(self.conns.get(app, []))
        for conn in conns:
            if disconnect:
                self._tell_disconnect(conn, disconnect)
        if disconnect and conns:
            await asyncio.sleep(self.disconnect_grace)
        for conn in conns:
            if not conn.ws.closed:
                await conn.ws.close(code=1000 if disconnect else 1001, message=b"closed")
        return len(conns)

    def _tell_disconnect(self, conn: Conn, reason: str) -> None:
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-sim"}}
        conn.draining = True
        conn.outbox.put_nowait(json.dumps(message))

    async def refresh(self, app: str) -> bool:
        """Slack's refresh of one connection: the app's oldest gets ``disconnect`` /
        ``refresh_requested``, no more envelopes, and is closed ``disconnect_grace`` later.
        False if the app has no connection to refresh."""
        live = [c for c in self.conns.get(app, []) if not c.draining and not c.ws.closed]
        if not live:
            return False
        conn = min(live, key=lambda c: c.opened)
        self._tell_disconnect(conn, "refresh_requested")
        self.feed("app_refreshed", {"app": app, "connection": conn.id})
        await asyncio.sleep(self.disconnect_grace)
        if not conn.ws.closed:
            await conn.ws.close(code=1000, message=b"refresh")
        return True

    async def refresh_every(self, every: float) -> None:
        """Refreshes each app's oldest connection every ``every`` seconds, forever."""
        while True:
            await asyncio.sleep(every)
            for app in list(self.conns):
                task = asyncio.ensure_future(self.refresh(app))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def dispatch(self, channel_id: str, event: dict[str, Any]) -> None:
        """Called by the model for every channel event: one envelope per member app."""
        for app in self.workspace.member_apps(channel_id):
            payload = self._payload(app.name, event)
            copies = 2 if self.faults.duplicate else 1
            for _ in range(copies):
                pending = Pending(app.name, self._envelope(payload))
                self.pending.setdefault(app.name, {})[pending.envelope["envelope_id"]] = pending
                delay = self.faults.event_delay_ms / 1000.0
                if delay > 0:
                    asyncio.get_running_loop().call_later(delay, self._deliver, pending)
                else:
                    self._deliver(pending)

    def send_to(self, app: str, payload: dict[str, Any], kind: str = "events_api") -> bool:
        """One envelope for one app: an interaction (``kind`` "interactive") goes only to the
        app whose message was clicked, an ``app_home_opened`` event only to that app. Whether
        it was sent: an interaction finds the app connected or fails at once (Slack shows the
        person the click failed; it does not keep it for a later connection)."""
        pending = Pending(app, self._envelope(payload, kind), hold=kind != "interactive")
        self.pending.setdefault(app, {})[pending.envelope["envelope_id"]] = pending
        self._deliver(pending)
        return pending.sent

    def event_payload(self, app_name: str, event: dict[str, Any]) -> dict[str, Any]:
        return self._payload(app_name, event)

    def flush(self, app: str) -> None:
        """Sends held envelopes once the app has a usable connection again."""
        for pending in list(self.pending.get(app, {}).values()):
            if not pending.sent:
                self._deliver(pending)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for conns in list(self.conns.values()):
            for conn in list(conns):
                await conn.ws.close(code=1001, message=b"server shutdown")
        for pendings in self.pending.values():
            for pending in pendings.values():
                if pending.timer is not None:
                    pending.timer.cancel()

    # -- envelopes -------------------------------------------------------

    def _payload(self, app_name: str, event: dict[str, Any]) -> dict[str, Any]:
        ws = self.workspace
        app = ws.apps[app_name]
        return {
            "token": "sim-verification-token",
            "team_id": ws.team_id,
            "context_team_id": ws.team_id,
            "context_enterprise_id": None,
            "api_app_id": app.app_id,
            "event": json.loads(json.dumps(event)),
            "type": "event_callback",
            "event_id": ws.ids.new("Ev"),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": ws.team_id,
                    "user_id": app.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_hex(20),
        }

    def _envelope(self, payload: dict[str, Any], kind: str = "events_api") -> dict[str, Any]:
        envelope = {
            "envelope_id": str(uuid.uuid4()),
            "payload": payload,
            "type": kind,
            "accepts_response_payload": False,
        }
        if kind == "events_api":  # only events say which attempt this is
            envelope.update(retry_attempt=0, retry_reason="")
        return envelope

    def _pick(self, app: str) -> Conn | None:
        conns = [c for c in self.conns.get(app, []) if not c.ws.closed and not c.draining]
        if not conns or self.faults.is_cut(app):
            return None
        index = self._rr.get(app, 0) % len(conns)
        self._rr[app] = index + 1
        return conns[index]

    def _deliver(self, pending: Pending) -> None:
        envelope_id = pending.envelope["envelope_id"]
        if envelope_id not in self.pending.get(pending.app, {}):
            return  # acknowledged or dropped meanwhile
        if time.monotonic() - pending.created > self.hold_limit:
            self._drop(pending, "expired")
            return
        conn = self._pick(pending.app)
        if conn is None and not pending.hold:
            pending.sent = False
            self._drop(pending, "failed:no_connection")
            return
        if conn is None:
            pending.sent = False  # held until a connection is usable
            self.recorder.delivery(pending.app, pending.envelope, "held")
            return
        pending.sent = True
        conn.outbox.put_nowait(json.dumps(pending.envelope))
        self.recorder.delivery(pending.app, pending.envelope, f"sent:{conn.id}")
        loop = asyncio.get_running_loop()
        pending.timer = loop.call_later(self.ack_timeout, self._on_timeout, pending)

    def _on_timeout(self, pending: Pending) -> None:
        pending.timer = None
        if pending.envelope["envelope_id"] not in self.pending.get(pending.app, {}):
            return
        if pending.attempts >= self.max_retries:
            self._drop(pending, "dropped")
            return
        pending.attempts += 1
        if "retry_attempt" in pending.envelope:
            pending.envelope["retry_attempt"] = pending.attempts
            pending.envelope["retry_reason"] = "timeout"
        self._deliver(pending)

    def _drop(self, pending: Pending, outcome: str) -> None:
        self.pending.get(pending.app, {}).pop(pending.envelope["envelope_id"], None)
        if pending.timer is not None:
            pending.timer.cancel()
        self.recorder.delivery(pending.app, pending.envelope, outcome)

    def _ack(self, app: str, envelope_id: Any) -> None:
        if not isinstance(envelope_id, str):
            return
        pending = self.pending.get(app, {}).pop(envelope_id, None)
        if pending is None:
            return  # late or unknown ack: Slack ignores it too
        if pending.timer is not None:
            pending.timer.cancel()
        self.recorder.delivery(app, pending.envelope, "acked")

    # -- websocket -------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        app = self.tickets.pop(request.query.get("ticket", ""), None)  # a URL serves one connection
        if app is None:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        await self.faults.wait_restored(app)  # a cut-off app's handshake hangs
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = Conn(id=secrets.token_hex(4), app=app, ws=ws)
        self.conns.setdefault(app, []).append(conn)
        writer = asyncio.ensure_future(self._writer(conn))
        pinger = asyncio.ensure_future(self._pinger(conn))
        hello = {
            "type": "hello",
            "num_connections": len(self.conns[app]),
            "debug_info": {
                "host": "applink-sim",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": self.workspace.apps[app].app_id},
        }
        conn.outbox.put_nowait(json.dumps(hello))
        self.feed("app_connected", {"app": app, "connections": len(self.conns[app])})
        self.flush(app)
        try:
            async for msg in ws:
                if self.faults.is_cut(app):
                    continue  # the network is gone: nothing arrives
                if msg.type == WSMsgType.TEXT:
                    self._on_text(app, msg.data)
                elif msg.type == WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await ws.close(code=1003, message=b"binary frames are not supported")
                    break
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        except Exception:  # a broken socket ends this connection only
            pass
        finally:
            conn.outbox.put_nowait(None)
            writer.cancel()
            pinger.cancel()
            if conn in self.conns.get(app, []):
                self.conns[app].remove(conn)
            self.feed("app_disconnected", {"app": app, "connections": len(self.conns[app])})
            if not ws.closed:
                await ws.close()
        return ws

    def _on_text(self, app: str, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return  # garbage: Slack ignores what it cannot parse
        if isinstance(message, dict) and "envelope_id" in message:
            self._ack(app, message["envelope_id"])

    async def _writer(self, conn: Conn) -> None:
        try:
            while True:
                text = await conn.outbox.get()
                if text is None or conn.ws.closed:
                    return
                await conn.ws.send_str(text)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            return

    async def _pinger(self, conn: Conn) -> None:
        try:
            while not conn.ws.closed:
                await asyncio.sleep(self.ping_interval)
                if not self.faults.is_cut(conn.app) and not conn.ws.closed:
                    await conn.ws.ping(f"ping-{int(time.time())}".encode())
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            return
