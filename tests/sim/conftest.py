"""Fixtures for the Slack emulator tests: a workspace and real slack_sdk clients."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from sim_helpers import Listener, wait_for
from slack_sdk import WebClient

from troupe.sim.slack import SlackWorkspace


@pytest.fixture
def ws() -> Iterator[SlackWorkspace]:
    with SlackWorkspace(apps=3, rate_limits="off", ack_timeout=0.5) as workspace:
        yield workspace


@pytest.fixture
def client(ws: SlackWorkspace) -> WebClient:
    return WebClient(token=ws.app("pi-1")["bot_token"], base_url=ws.api_url)


@pytest.fixture
def person(ws: SlackWorkspace) -> WebClient:
    return WebClient(token=ws.user["token"], base_url=ws.api_url)


@pytest.fixture
def listen(ws: SlackWorkspace) -> Iterator[Callable[..., Listener]]:
    started: list[Listener] = []

    def start(app: str, ack: bool = True, wait: bool = True) -> Listener:
        before = ws.connections(app)
        listener = Listener(ws, app, ack)
        listener.client.connect()
        started.append(listener)
        if wait:
            wait_for(lambda: ws.connections(app) > before, what=f"{app} to connect")
        return listener

    yield start
    # Close every client at once: each builtin client takes seconds to stop its threads.
    for listener in started:
        listener.client.auto_reconnect_enabled = False
    for app in {a["name"] for a in ws.apps}:
        ws.close_connections(app)  # unblocks the clients' receive loops at once
    closers = [threading.Thread(target=lst.client.close) for lst in started]
    for thread in closers:
        thread.start()
    for thread in closers:
        thread.join(10)
