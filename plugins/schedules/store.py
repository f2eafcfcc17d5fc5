"""Schedules live in Slack: pending firings are scheduled messages, fired ones are messages.

A firing's text says everything needed to run it and to schedule the next one:

    fire schedule morning 2025-05-01T07:00:00+02:00 every day at 07:00 (configured): scene morning
    fire schedule k3x9 2025-05-01T22:30:00+02:00 once: switch porch off

`SlackStore` reads and writes them with the Pi's WebClient. See docs/schedules.md
for why each occurrence runs exactly once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from troupe.text import unescape

COMMAND_EVENT = "troupe_command"  # troupe.core.COMMAND_EVENT: commands the federation posts
REPLY_EVENT = "troupe_reply"  # troupe.core.REPLY_EVENT: the metadata of a Pi's answers
CANCELLED_RE = re.compile(r"Cancelled schedule `(?P<sid>[\w-]+)`")
FIRE_RE = re.compile(r"fire schedule (?P<sid>[\w-]+) (?P<due>\S+) (?P<rule>.+?)"
                     r"(?P<cfg> \(configured\))?: (?P<command>.+)\Z", re.S)
SOON = 1.0  # a firing due sooner than this is posted at once rather than scheduled
ELECTION_MARGIN = 60  # look this long before `due` for firings of the same occurrence


@dataclass(frozen=True)
class Firing:
    """One occurrence of a schedule: which schedule, when, by what rule, doing what."""

    sid: str
    due: int  # epoch seconds
    rule: str  # "once" or "every ... at ..."
    command: str
    configured: bool = False

    @property
    def recurring(self) -> bool:
        return self.rule != "once"

    @property
    def key(self) -> tuple[str, int]:
        return self.sid.lower(), self.due

    def text(self, tz: tzinfo) -> str:
        due = datetime.fromtimestamp(self.due, tz).isoformat(timespec="seconds")
        cfg = " (configured)" if self.configured else ""
        return f"fire schedule {self.sid} {due} {self.rule}{cfg}: {self.command}"

    def next(self, due: int) -> Firing:
        return replace(self, due=due)

    @staticmethod
    def parse(text: str) -> Firing | None:
        m = FIRE_RE.fullmatch(unescape(text or "").strip())
        if not m:
            return None
        try:
            due = int(datetime.fromisoformat(m["due"]).timestamp())
        except ValueError:
            return None
        return Firing(m["sid"], due, m["rule"], m["command"].strip(), bool(m["cfg"]))


@dataclass(frozen=True)
class Pending:
    """A firing Slack will post later (a scheduled message)."""

    id: str
    firing: Firing


class SlackStore:
    """Scheduled and posted firings in the house channel."""

    def __init__(self, web: WebClient, channel: str, tz: tzinfo,
                 schedule: Callable[..., str | None], post: Callable[..., str | None]):
        self.web, self.channel, self.tz = web, channel, tz
        self._schedule, self._post = schedule, post

    def pending(self) -> list[Pending]:
        """The firings waiting in Slack that this Pi can see, soonest first."""
        found, cursor = [], None
        while True:
            page = self.web.chat_scheduledMessages_list(channel=self.channel, limit=100,
                                                        cursor=cursor)
            for item in page.get("scheduled_messages", []):
                firing = Firing.parse(item.get("text", ""))
                if firing is not None and item.get("channel_id", self.channel) == self.channel:
                    found.append(Pending(item["id"], firing))
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return sorted(found, key=lambda p: (p.firing.due, p.id))

    def ensure(self, firing: Firing, on_behalf_of: str | None) -> str:
        """Make sure a firing for this occurrence is pending: "pending", "scheduled" or "posted"."""
        if any(p.firing.key == firing.key for p in self.pending()):
            return "pending"
        text = firing.text(self.tz)
        if firing.due > time.time() + SOON:
            try:
                self._schedule(text, firing.due, on_behalf_of=on_behalf_of)
                self.tidy(firing.key)
                return "scheduled"
            except SlackApiError as e:
                if e.response.get("error") != "time_in_past":
                    raise
        self._post(text, on_behalf_of=on_behalf_of)  # due now: the election still applies
        return "posted"

    def tidy(self, key: tuple[str, int] | None = None) -> int:
        """Delete duplicate pending firings: per occurrence keep the smallest id."""
        keep: dict[tuple[str, int], str] = {}
        pending = [p for p in self.pending() if key is None or p.firing.key == key]
        for p in pending:
            keep[p.firing.key] = min(keep.get(p.firing.key, p.id), p.id)
        return len(self.delete([p for p in pending if keep[p.firing.key] != p.id])[0])

    def delete(self, items: list[Pending]) -> tuple[list[Pending], list[Pending]]:
        """Withdraw pending firings: (deleted or already gone, refused by Slack)."""
        gone, refused = [], []
        for p in items:
            try:
                self.web.chat_deleteScheduledMessage(channel=self.channel,
                                                     scheduled_message_id=p.id)
                gone.append(p)
            except SlackApiError as e:
                if e.response.get("error") != "invalid_scheduled_message_id":
                    raise
                # Already posted or deleted, or (real Slack) due within 60 s or not ours.
                (refused if p.firing.due - time.time() < 60 else gone).append(p)
        return gone, refused

    def history(self, oldest: float, latest: str | None = None,
                federation_only: bool = True) -> list[dict[str, Any]]:
        """Commands the federation posted in the channel since `oldest` (or every message)."""
        found, cursor = [], None
        while True:
            page = self.web.conversations_history(
                channel=self.channel, oldest=f"{oldest:.6f}", latest=latest, inclusive=True,
                include_all_metadata=True, limit=200, cursor=cursor)
            found += [m for m in page.get("messages", [])
                      if not federation_only or is_federation_post(m)]
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                return sorted(found, key=lambda m: float(m["ts"]))

    def cancelled(self, sid: str, oldest: float, latest: str) -> bool:
        """Whether a Pi answered `Cancelled schedule <sid>` between `oldest` and `latest`."""
        return any(cancel_record(m) == sid.lower()
                   for m in self.history(oldest, latest=latest, federation_only=False))

    def firings_of(self, firing: Firing, ts: str) -> list[str]:
        """The ts of every posted firing of this occurrence up to `ts`, first first."""
        return [m["ts"] for m in self.history(firing.due - ELECTION_MARGIN, latest=ts)
                if (posted := Firing.parse(m.get("text", ""))) and posted.key == firing.key]

    def reactions(self, ts: str) -> list[dict[str, Any]]:
        """The reactions on the message at `ts` (outcome markers among them)."""
        found = self.web.reactions_get(channel=self.channel, timestamp=ts)
        return (found.get("message") or {}).get("reactions") or []

    def step_posted(self, ts: str) -> bool:
        """Whether the command of the firing at `ts` was already posted in its thread."""
        replies = self.web.conversations_replies(channel=self.channel, ts=ts, limit=50,
                                                 include_all_metadata=True)
        return any(m.get("ts") != ts and is_federation_post(m)
                   for m in replies.get("messages", []))


def is_federation_post(message: dict[str, Any]) -> bool:
    """A command a Pi posted for the federation (not a person's, not an answer)."""
    metadata = message.get("metadata") or {}
    return bool(message.get("bot_id")) and metadata.get("event_type") == COMMAND_EVENT


def cancel_record(message: dict[str, Any]) -> str | None:
    """The schedule id a Pi's `Cancelled schedule ...` answer records as cancelled, or None
    (only a bot's answer, with the answers' metadata: a person typing it records nothing)."""
    metadata = message.get("metadata") or {}
    if not message.get("bot_id") or metadata.get("event_type") != REPLY_EVENT:
        return None
    found = CANCELLED_RE.match(message.get("text") or "")
    return found["sid"].lower() if found else None
