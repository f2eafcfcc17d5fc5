"""Catch-up after (re)connecting: the commands posted while this Pi was away.

One history read from a little before the last message seen (or an hour back on
start), plus one pins.list for the claims history does not show: commands in threads
(scene steps) and claims older than the window, whose holder may have died. Every
message found goes through the same path as a live one, marked ``source="history"``;
the core drops the ones it has seen already.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

from troupe.authors import COMMAND_EVENT
from troupe.slack_web import why
from troupe.transport import Event

log = logging.getLogger("troupe.core")  # the core's lines, as before catch-up moved out

CATCH_UP_WINDOW = 3600.0  # on start, look this far back for commands nobody ran
CATCH_UP_MARGIN = 120.0  # on reconnect, look this far before the last message seen


class CatchUp:
    """Reads what a Pi missed and hands each message to ``deliver`` as a history event."""

    def __init__(self, web: WebClient, name: str, deliver: Callable[[Event], None],
                 max_age: float = 300.0):
        self.web = web
        self.name = name
        self.deliver = deliver
        self.max_age = max_age  # older commands are not run: their threads need no reading
        self._lock = threading.Lock()

    def run(self, channel_id: str, last_seen: Callable[[], str | None]) -> None:
        """Deliver the messages of `channel_id` since the last one seen (less a margin),
        oldest first, and the pinned ones the history read does not show.

        `last_seen` is read once this catch-up has its turn: one running already may have
        moved it on."""
        with self._lock:
            last_seen_ts = last_seen()
            # A margin before the last message seen: a delayed delivery may have been lost
            # with the connection. Messages seen already are dropped by the core.
            since = (float(last_seen_ts) - CATCH_UP_MARGIN if last_seen_ts
                     else time.time() - CATCH_UP_WINDOW)
            oldest = f"{since:.6f}"
            cursor, messages = None, []
            while True:
                page = self.web.conversations_history(channel=channel_id, oldest=oldest,
                                                      limit=200, cursor=cursor,
                                                      include_all_metadata=True)
                messages += page.get("messages", [])
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not page.get("has_more") or not cursor:
                    break
            messages += self._threads(channel_id, messages, max(since, time.time() - self.max_age))
            messages += self._pinned_elsewhere(channel_id, {m.get("ts") for m in messages})
            # Bots' answers are never commands: handing them on would only crowd the core's
            # memory of messages seen (a long catch-up evicted a broadcast run a moment
            # before, and its stale copy from history ran again: chaos seed 1 at 2,000).
            messages = [m for m in messages if not _answer(m)]
            log.info("%s catching up on %d message(s)", self.name, len(messages))
            try:
                for message in sorted(messages, key=lambda m: float(m.get("ts", 0))):
                    message.setdefault("channel", channel_id)
                    self.deliver(Event("message", message, source="history"))
            finally:
                log.info("%s caught up", self.name)  # every message read was handed on

    def _threads(self, channel_id: str, top: list[dict[str, Any]],
                 since: float) -> list[dict[str, Any]]:
        """Replies posted since `since` in the threads of `top`: broadcast steps of a scene
        or schedule (no pin marks them, so `_pinned_elsewhere` cannot find them) and commands
        typed in a thread. A Pi killed after acknowledging one but before running it would
        otherwise never run it (found by tests/chaos.py). One conversations.replies a thread
        with a reply since `since`."""
        found: list[dict[str, Any]] = []
        for parent in top:
            if not parent.get("reply_count") or float(parent.get("latest_reply") or 0) < since:
                continue
            cursor = None
            try:
                while True:
                    page = self.web.conversations_replies(
                        channel=channel_id, ts=parent["ts"], oldest=f"{since:.6f}", limit=200,
                        cursor=cursor, include_all_metadata=True)
                    found += [m for m in page.get("messages", []) if m.get("ts") != parent["ts"]]
                    cursor = (page.get("response_metadata") or {}).get("next_cursor")
                    if not page.get("has_more") or not cursor:
                        break
            except Exception as e:  # noqa: BLE001 - the other threads still count
                log.warning("%s could not read thread %s while catching up: %s", self.name,
                            parent.get("ts"), why(e))
        return found

    def _pinned_elsewhere(self, channel_id: str, known: set[Any]) -> list[dict[str, Any]]:
        """Claimed messages the history read does not show: thread replies (scene steps,
        commands typed in a thread) and claims older than the window. Their holder may have
        died with every Pi that was watching it; one pins.list finds them again."""
        try:
            items = self.web.pins_list(channel=channel_id).get("items") or []
        except Exception as e:  # noqa: BLE001 - the history read stands on its own
            log.warning("%s could not list pins while catching up: %s", self.name, why(e))
            return []
        pinned = [item["message"] for item in items
                  if isinstance(item.get("message"), dict)
                  and item["message"].get("ts") not in known]
        # pins.list gives no metadata, and a federation command (a scene step) is one only
        # with its metadata: read those messages again from their threads.
        full: dict[str, dict[str, Any]] = {}
        for thread in {m.get("thread_ts") or m.get("ts") for m in pinned if m.get("bot_id")}:
            try:
                page = self.web.conversations_replies(channel=channel_id, ts=thread,
                                                      limit=1000, include_all_metadata=True)
            except Exception as e:  # noqa: BLE001 - the pin is found again next time
                log.warning("%s could not read thread %s while catching up: %s", self.name,
                            thread, why(e))
                continue
            full.update({m.get("ts"): m for m in page.get("messages", [])})
        return [full.get(m.get("ts"), m) for m in pinned]


def _answer(message: dict[str, Any]) -> bool:
    """A bot's message that is not a federation command (an answer, a report)."""
    metadata = message.get("metadata") or {}
    return bool(message.get("bot_id")) and metadata.get("event_type") != COMMAND_EVENT
