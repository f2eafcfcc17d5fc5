"""Socket Mode transport: acknowledge at once, hand events on, reconnect.

Acknowledgement is kept apart from the work (as in Bolt): each envelope is
acknowledged the moment it arrives, before any handler runs, so Slack never
redelivers because a command is slow. Redeliveries that do happen (a lost ack)
are the core's to deduplicate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

log = logging.getLogger("troupe.transport")


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
    ):
        self.web = web
        self.on_event = on_event
        self.on_connect = on_connect
        self._stopping = threading.Event()
        self.client = SocketModeClient(
            app_token=app_token,
            web_client=web,
            auto_reconnect_enabled=True,
            ping_interval=ping_interval,
            logger=logging.getLogger("troupe.transport.socket"),
        )
        self.client.socket_mode_request_listeners.append(self._on_request)
        self.client.message_listeners.append(self._on_message)

    def _on_message(self, client: SocketModeClient, message: dict, raw: str | None) -> None:
        if message.get("type") == "hello":
            log.info("socket mode connected (%s connection(s))", message.get("num_connections"))
            threading.Thread(target=self._safe_on_connect, name="catch-up", daemon=True).start()

    def _safe_on_connect(self) -> None:
        try:
            self.on_connect()
        except Exception:  # noqa: BLE001 - a failed catch-up is retried at the next hello
            log.exception("catch-up after connect failed")

    def _on_request(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
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
        """Connect, retrying until connected or stopped (Slack may be unreachable)."""
        while not self._stopping.is_set():
            try:
                self.client.wss_uri = None  # a URL is good for one connection: ask for a new one
                self.client.connect()
                return
            except Exception as e:  # noqa: BLE001 - any failure to connect is retried
                log.warning("could not connect to Slack (%s); retrying in %.0fs",
                            type(e).__name__, retry_every)
                self._stopping.wait(retry_every)
                retry_every = min(retry_every * 2, 30.0)

    def stop(self) -> None:
        self._stopping.set()
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail; we are leaving
            log.debug("error while closing the socket", exc_info=True)
