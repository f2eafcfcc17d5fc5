"""Socket Mode transport: acknowledge at once, hand events on, reconnect.

Acknowledgement is kept apart from the work (as in Bolt): each envelope is
acknowledged the moment it arrives, before any handler runs, so Slack never
redelivers because a command is slow. Redeliveries that do happen (a lost ack)
are the core's to deduplicate.

Two connections. Slack refreshes a connection now and then (``disconnect`` /
``refresh_requested``, then it closes it); the client must open another with
``apps.connections.open``, which is Tier 1 (about one a minute): refused with a 429,
a single connection leaves the Pi deaf until Retry-After has passed (up to a
minute). So the Pi holds a spare: Slack spreads the app's events over its
connections, one event to one connection, and while one is being replaced the
other hears everything. The spare opens ``spare_after`` seconds after the first,
so a Pi restarted twice in a minute does not spend the opens its restart needs.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

log = logging.getLogger("troupe.transport")

# slack_sdk's builtin client reads frames recursively, one level per frame or read, until a
# read ends on a frame's edge (its maintainers know: python-slack-sdk PR 1232). A backlog of
# envelopes (a connection restored after an outage, a busy moment) went past Python's 1,000
# levels: RecursionError in the reader, the frames after it misread, the connection dropped
# (seen in make chaos; tests/test_transport.py). Reads of 64 KB take many frames at a time,
# and Python 3.11's calls between Python functions use no C stack, so a deeper limit is safe.
RECEIVE_BUFFER = 65536
RECURSION_LIMIT = 100_000


@dataclass
class Event:
    """One Slack event, from the live connection or from history on catch-up."""

    type: str
    data: dict[str, Any]
    source: str = "live"  # "live" | "history"
    event_id: str | None = None
    retry_attempt: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Transport:
    """A Socket Mode connection that survives disconnects and outages."""

    def __init__(
        self,
        web: WebClient,
        app_token: str,
        on_event: Callable[[Event], None],
        on_connect: Callable[[], None],
        *,
        ping_interval: float = 5.0,
        spare_after: float | None = 60.0,
    ):
        self.web = web
        self.on_event = on_event
        self.on_connect = on_connect
        self.spare_after = spare_after
        self._stopping = threading.Event()
        self.clients = [self._client(app_token, web, ping_interval)
                        for _ in range(1 if spare_after is None else 2)]
        self.client = self.clients[0]

    def _client(self, app_token: str, web: WebClient, ping_interval: float) -> SocketModeClient:
        sys.setrecursionlimit(max(sys.getrecursionlimit(), RECURSION_LIMIT))
        client = SocketModeClient(
            app_token=app_token,
            receive_buffer_size=RECEIVE_BUFFER,
            web_client=web,
            auto_reconnect_enabled=True,
            ping_interval=ping_interval,
            # One listener thread: envelopes are acked and handed on in the order Slack sends
            # them (the core's lanes keep one device's commands in order: troupe.lanes).
            concurrency=1,
            logger=logging.getLogger("troupe.transport.socket"),
        )
        client.socket_mode_request_listeners.append(self._on_request)
        client.message_listeners.append(self._on_message)
        return client

    def _on_message(self, client: SocketModeClient, message: dict, raw: str | None) -> None:
        if message.get("type") != "hello":
            return
        log.info("socket mode connected (%s connection(s))", message.get("num_connections"))
        if any(c is not client and c.is_connected() for c in self.clients):
            return  # another connection heard everything meanwhile: nothing to catch up on
        threading.Thread(target=self._safe_on_connect, name="catch-up", daemon=True).start()

    def _safe_on_connect(self) -> None:
        try:
            self.on_connect()
        except Exception:  # noqa: BLE001 - a failed catch-up is retried at the next hello
            log.exception("catch-up after connect failed")

    def _on_request(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        if req.type == "interactive":  # a click: acknowledged at once too, handed on
            payload = req.payload or {}
            if payload.get("type") == "block_actions":
                self.on_event(Event(type="block_actions", data=payload))
            return
        if req.type != "events_api":
            return
        payload = req.payload or {}
        event = payload.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            log.warning("ignored a malformed event (envelope %s)", req.envelope_id)
            return
        self.on_event(Event(
            type=event["type"],
            data=event,
            event_id=payload.get("event_id"),
            retry_attempt=int(req.retry_attempt or 0),
        ))

    def start(self, retry_every: float = 2.0) -> None:
        """Connect, retrying until connected or stopped (Slack may be unreachable); the
        spare connection follows ``spare_after`` seconds later, in the background."""
        self._connect(self.clients[0], retry_every)
        if len(self.clients) > 1:
            threading.Thread(target=self._spare, name="spare-connection", daemon=True).start()

    def _spare(self) -> None:
        if not self._stopping.wait(self.spare_after or 0):
            self._connect(self.clients[1], 2.0)

    def _connect(self, client: SocketModeClient, retry_every: float) -> None:
        while not self._stopping.is_set():
            try:
                client.wss_uri = None  # a URL is good for one connection: ask for a new one
                client.connect()
                return
            except Exception as e:  # noqa: BLE001 - any failure to connect is retried
                log.warning("could not connect to Slack (%s); retrying in %.0fs",
                            type(e).__name__, retry_every)
                self._stopping.wait(retry_every)
                retry_every = min(retry_every * 2, 30.0)

    def stop(self) -> None:
        self._stopping.set()
        for client in self.clients:
            _hurry_close(client)
        for client in self.clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; leaving
                log.debug("error while closing the socket", exc_info=True)


def _hurry_close(client: Any) -> None:
    """Make slack_sdk's SocketModeClient.close() quick: it took up to 3 s on every stop.

    close() takes the socket's receive lock to close it, and the reader thread holds that
    lock while blocked in recv() for up to 3 s (its receive timeout); close() also joins
    the message processor, which waits up to 1 s on its queue. So, in order: stop taking
    messages (no reconnect), wake the processor and let it finish the message in hand, let
    the listeners running finish (their acks still go out, their events reach the bot),
    then shut the socket down: the blocked recv() returns at once (under TLS too: the
    plain socket's shutdown reads as an end of stream). close() then has nothing to wait
    for. Messages read but not handed on are not acknowledged: Slack delivers them again.
    (This knows slack_sdk's builtin client's internals; close() stays the fallback.)
    """
    try:
        client.closed = True
        client.auto_reconnect_enabled = False
        client.current_session_state.terminated = True
        client.message_queue.put(None)  # skipped by the processor, which then sees `closed`
        client.message_processor.shutdown()
        client.message_workers.shutdown(wait=True)
        sock = getattr(client.current_session, "sock", None)
        if sock is not None:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except Exception:  # noqa: BLE001 - close() still works, only slower
        log.debug("could not hurry the Socket Mode client's close", exc_info=True)
