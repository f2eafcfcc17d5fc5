"""Helpers for the slackmq tests (imported by basename: pytest puts this folder on sys.path)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

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


def race(fns: list[Callable[[], Any]]) -> list[Any]:
    """Run ``fns`` on threads released together by a barrier; their results, in order."""
    barrier = threading.Barrier(len(fns))
    out: list[Any] = [None] * len(fns)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            out[i] = fns[i]()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=30)
    assert not errors, errors
    return out
