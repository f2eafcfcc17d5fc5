"""Slack's Web API rate limits: per app (or person), per method, by tier.

A token bucket per key lets short bursts through and then holds the caller
to the tier's rate, which is how Slack's limits feel from the outside. Over
the limit the server answers HTTP 429 with Retry-After (whole seconds).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Tier:
    per_minute: float
    burst: float


TIERS: dict[str, Tier] = {
    "1": Tier(1, 2),
    "2": Tier(20, 20),
    "3": Tier(50, 50),
    "4": Tier(100, 100),
    # chat.postMessage: about one message per second per channel, short bursts allowed.
    "post": Tier(60, 4),
}

METHOD_TIERS: dict[str, str] = {
    "apps.connections.open": "1",
    "auth.test": "4",
    "bots.info": "3",
    "chat.postMessage": "post",
    "chat.postEphemeral": "post",
    "chat.update": "3",
    "chat.delete": "3",
    "chat.scheduleMessage": "3",
    "chat.scheduledMessages.list": "3",
    "chat.deleteScheduledMessage": "3",
    "conversations.history": "3",
    "conversations.replies": "3",
    "conversations.info": "3",
    "conversations.list": "2",
    "conversations.members": "4",
    "conversations.join": "3",
    "pins.add": "2",
    "pins.remove": "2",
    "pins.list": "2",
    "reactions.add": "3",
    "reactions.get": "3",
    "reactions.remove": "2",
    "users.info": "4",
    "users.list": "2",
}


class _Bucket:
    def __init__(self, tier: Tier, now: float) -> None:
        self.rate = tier.per_minute / 60.0
        self.capacity = tier.burst
        self.tokens = tier.burst
        self.stamp = now

    def take(self, now: float) -> float:
        """Takes a token; returns 0 on success, else seconds until one is free."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._buckets: dict[tuple[str, str, str], _Bucket] = {}

    def check(self, who: str, method: str, channel: str = "") -> int:
        """0 when the call may proceed, else the Retry-After seconds to answer with."""
        if not self.enabled:
            return 0
        tier_name = METHOD_TIERS.get(method, "3")
        scope = channel if tier_name == "post" else ""
        key = (who, method, scope)
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(TIERS[tier_name], now)
        wait = bucket.take(now)
        return 0 if wait == 0 else max(1, math.ceil(wait))
