"""A rollout's threads: what each Pi posts there, and reading it back.

Every post of the update plugin is an answer (metadata `troupe_reply`,
`command_ts` = the command it answers) with one more field, `update`:

- ``plan``: the version an `update` will roll out;
- ``ready`` / ``unready``: one Pi built and checked it (or could not: ``why``);
- ``go``: every Pi is ready, the rollout is posted;
- ``done`` / ``skipped``: one Pi's turn (``from``, ``to``, ``seconds``, ``why``);
- ``halt``: the rollout stops here (``why``); every Pi reads it before its turn;
- ``summary``: every Pi is accounted for.

The core's own "<@U…> stopped answering while running …" or "<@U…> did not
finish …" (a turn freed after the lease) counts that Pi as accounted for: the
summary names it. Only posts
with a valid federation proof are read (troupe.federation), so neither a person
typing in the thread nor another app in the channel steers a rollout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from troupe.core import REPLY_EVENT
from troupe.text import escape

# "stopped answering" (died) or "did not finish" (renewed its claim, then went silent)
INTERRUPTED = re.compile(r"<@([UW][A-Z0-9]+)> (?:stopped answering|did not finish)")


@dataclass
class Thread:
    """What a thread says so far (reports and summary: about one command)."""

    plan: dict[str, Any] | None = None
    halt: dict[str, Any] | None = None
    ready: dict[str, dict[str, Any]] = field(default_factory=dict)  # bot user id -> post
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # bot user id -> post
    interrupted: set[str] = field(default_factory=set)  # bot user ids
    summary: bool = False


def post(host: Any, thread_ts: str, text: str, kind: str, *, command_ts: str | None = None,
         **fields: Any) -> str | None:
    """Post `text` (already safe for Slack) in the thread `thread_ts`, tagged `kind`."""
    payload = {"command_ts": command_ts or thread_ts, "host": host.name, "update": kind,
               **fields}
    response = host.web.chat_postMessage(
        channel=host.channel_id, thread_ts=thread_ts, text=text,
        metadata=host.seal.metadata(REPLY_EVENT, text, payload))  # proof: troupe.federation
    return response.get("ts")


def _replies(host: Any, ts: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = host.web.conversations_replies(channel=host.channel_id, ts=ts, limit=200,
                                              cursor=cursor, include_all_metadata=True)
        out += page.get("messages", [])
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return out


def read(host: Any, thread_ts: str, command_ts: str | None = None) -> Thread:
    """The thread `thread_ts`; reports, interruptions and summary about `command_ts`."""
    thread = Thread()
    for message in _replies(host, thread_ts):
        if not message.get("bot_id") or message.get("ts") in (thread_ts, command_ts):
            continue
        if not host.verified(message):
            continue  # not proven to be one of this house's Pis: it steers nothing
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        about = payload.get("command_ts")
        found = INTERRUPTED.match(message.get("text", ""))
        if found:
            if about == command_ts:
                thread.interrupted.add(found.group(1))
            continue
        kind, user = payload.get("update"), message.get("user", "")
        if kind == "plan":
            thread.plan = thread.plan or payload
        elif kind == "halt":
            thread.halt = thread.halt or payload
        elif kind in ("ready", "unready"):
            thread.ready[user] = payload
        elif about != command_ts:
            continue
        elif kind in ("done", "skipped"):
            thread.reports[user] = payload
        elif kind == "summary":
            thread.summary = True
    return thread


def pis(host: Any) -> dict[str, str]:
    """The Pis of the federation (the house's proven Pis, not any bot): user id -> name."""
    return host.pis()


def summary(thread: Thread, members: dict[str, str], total: float, what: str) -> str | None:
    """The closing summary once every Pi is accounted for; None while some are not."""
    accounted = set(thread.reports) | thread.interrupted
    if thread.summary or thread.halt or not set(members) <= accounted:
        return None
    lines = [f"{what} done in {total:.0f} s:"]
    for user, name in sorted(members.items(), key=lambda item: item[1]):
        report = thread.reports.get(user)
        if report is None:
            lines.append(f"• {escape(name)}: stopped answering during its turn; not done "
                         "(check it)")
        elif report.get("update") == "done":
            lines.append(f"• {escape(report.get('host', name))}: {escape(report.get('from', '?'))}"
                         f" → {escape(report.get('to', '?'))} in {report.get('seconds', 0):.0f} s")
        else:
            lines.append(f"• {escape(report.get('host', name))}: {escape(report.get('why', ''))}")
    return "\n".join(lines)
