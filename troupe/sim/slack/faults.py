"""Injected faults and the append-only record of what happened.

Faults are set from tests (Python) or the admin API and read by the Web API
and Socket Mode code. All of it lives on the server's loop thread.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

FAIL_MODES = ("5xx", "hang", "error", "lost_answer")
# lost_answer: the call is applied, then answered with HTTP ``status`` (500): it reached
# Slack but its answer was lost (a proxy or load balancer failing on the way back).


@dataclass
class FailRule:
    method: str
    mode: str
    error: str
    count: int
    app: str | None
    status: int = 500


class Faults:
    def __init__(self, latency_ms: int = 0) -> None:
        self.latency_ms = latency_ms
        self.event_delay_ms = 0
        self.duplicate = False
        self.rules: list[FailRule] = []
        self._cut: dict[str, asyncio.Event] = {}

    def fail_method(
        self,
        method: str,
        mode: str = "5xx",
        error: str = "internal_error",
        count: int = 1,
        app: str | None = None,
        status: int = 500,
    ) -> None:
        if mode not in FAIL_MODES:
            raise ValueError(f"mode must be one of {FAIL_MODES}, not {mode!r}")
        self.rules.append(FailRule(method, mode, error, int(count), app, int(status)))

    def take_rule(self, method: str, app: str) -> FailRule | None:
        """The first rule matching this call, counted down (and dropped at zero)."""
        for rule in self.rules:
            if rule.method == method and rule.app in (None, app):
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
                return rule
        return None

    def cut_off(self, app: str) -> None:
        self._cut.setdefault(app, asyncio.Event())

    def restore(self, app: str) -> None:
        event = self._cut.pop(app, None)
        if event is not None:
            event.set()

    def is_cut(self, app: str) -> bool:
        return app in self._cut

    async def wait_restored(self, app: str) -> None:
        event = self._cut.get(app)
        if event is not None:
            await event.wait()


class Recorder:
    """Append-only logs of API calls and event deliveries, for checkers."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        self.counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def call(self, who: str, method: str, args: dict[str, Any], result: str) -> None:
        self.counts[who][method] += 1
        summary = {k: _short(v) for k, v in args.items() if k != "token"}
        self.calls.append(
            {"time": time.time(), "app": who, "method": method, "args": summary, "result": result}
        )

    def delivery(self, app: str, envelope: dict[str, Any], outcome: str) -> None:
        event = envelope.get("payload", {}).get("event", {})
        self.deliveries.append(
            {
                "time": time.time(),
                "app": app,
                "envelope_id": envelope.get("envelope_id"),
                "envelope": envelope.get("type"),  # events_api | interactive
                "event_id": envelope.get("payload", {}).get("event_id"),
                "type": event.get("type"),
                "subtype": event.get("subtype"),
                "ts": event.get("ts") or event.get("event_ts"),
                "retry_attempt": envelope.get("retry_attempt", 0),
                "outcome": outcome,
            }
        )

    def call_counts(self) -> dict[str, dict[str, int]]:
        return {who: dict(methods) for who, methods in self.counts.items()}


def _short(value: Any) -> Any:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:200] + "..."
