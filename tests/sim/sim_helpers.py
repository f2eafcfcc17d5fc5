"""Helpers for the Slack emulator tests (wait_for, a recording SocketModeClient)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from troupe.sim.slack import SlackWorkspace


def wait_for(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """Polls until condition() is truthy; fails the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class Listener:
    """A real builtin SocketModeClient that records what it receives."""

    def __init__(self, ws: SlackWorkspace, app: str, ack: bool = True) -> None:
        self.ack = ack
        self.requests: list[SocketModeRequest] = []
        self.lock = threading.Lock()
        web = WebClient(token=ws.app(app)["bot_token"], base_url=ws.api_url)
        self.client = SocketModeClient(app_token=ws.app(app)["app_token"], web_client=web)
        self.client.socket_mode_request_listeners.append(self._on_request)

    def _on_request(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        with self.lock:
            self.requests.append(req)
        if self.ack:
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            events = [r.payload["event"] for r in self.requests if r.type == "events_api"]
        return [e for e in events if type_ is None or e["type"] == type_]

    def messages(self, text: str) -> list[dict[str, Any]]:
        return [e for e in self.events("message") if e.get("text") == text]
