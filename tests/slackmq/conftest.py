"""Fixtures for the slackmq tests: the Slack emulator and one SlackMQ per app."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from slackmq import SlackMQ
from troupe.sim.slack import SlackWorkspace


def wait_until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``cond`` until it is truthy; fail after ``timeout`` seconds. Never a fixed sleep."""
    end = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def make_mq(ws: SlackWorkspace, i: int, **kw: Any) -> SlackMQ:
    """A SlackMQ for app ``i`` with its own WebClient (slackmq builds it: no sdk retries)."""
    app = ws.apps[i]
    kw.setdefault("deadline", 5.0)
    kw.setdefault("call_timeout", 2)
    return SlackMQ(
        channel=ws.channel_id, token=app["bot_token"], base_url=ws.api_url, name=app["name"], **kw
    )


def client(ws: SlackWorkspace, i: int, **kw: Any) -> WebClient:
    return WebClient(token=ws.apps[i]["bot_token"], base_url=ws.api_url, **kw)


@pytest.fixture(scope="module")
def ws16() -> Iterator[SlackWorkspace]:
    """A shared 16-app workspace. Tests use fresh messages, so they do not interfere."""
    with SlackWorkspace(apps=16, rate_limits="off", latency_ms=0) as ws:
        yield ws


@pytest.fixture
def ws() -> Iterator[SlackWorkspace]:
    """A fresh 4-app workspace, for tests that inject faults or change latency."""
    with SlackWorkspace(apps=4, rate_limits="off", latency_ms=0) as w:
        yield w
