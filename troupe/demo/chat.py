"""The channel as the page shows it, kept from the Slack emulator's live feed.

`Chat.apply(item)` takes one feed item (message posted, pin, reaction, app
connected ...) and returns what the page needs: the message as it now is, and
a line for the "behind the scenes" log that says in words what happened.
"""

from __future__ import annotations

import re
import time
from collections import deque
from typing import Any

from troupe.text import unescape

EMOJI = {"white_check_mark": "✅", "x": "❌", "warning": "⚠️", "wave": "👋",
         "hourglass": "⏳", "hourglass_flowing_sand": "⏳", "arrows_counterclockwise": "🔄",
         "footprints": "👣", "door": "🚪", "clapper": "🎬", "bulb": "💡", "crescent_moon": "🌙",
         "sunny": "☀️", "thermometer": "🌡️", "rocket": "🚀", "heavy_check_mark": "✔️",
         "repeat": "🔁", "arrow_up": "⬆️", "tada": "🎉", "no_entry": "⛔", "zzz": "💤",
         "pushpin": "📌", "new": "🆕", "stopwatch": "⏱️", "electric_plug": "🔌",
         "grey_question": "❔"}
MARKER_MEANING = {"white_check_mark": "done", "x": "failed", "warning": "interrupted",
                  "grey_question": "declined"}
COMMAND_EVENT = "troupe_command"
REPLY_EVENT = "troupe_reply"
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")
_TAKEOVER = re.compile(r"^slackmq-takeover (\S+) of (\S+)@")  # slackmq's election bids
_HEARTBEAT = re.compile(r"^slackmq-heartbeat (\S+) on ")  # a holder renewing its claim
_TURN = re.compile(r"^slackmq-turn (\S+) on ")  # a sequence's turn, ordered in the thread
_FIRING = re.compile(r"^fire schedule (\S+) \S+ (\S+): (.*)$", re.S)  # the schedules plugin's


def emoji(name: str) -> str:
    return EMOJI.get(name, f":{name}:")


def short(text: str, limit: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Chat:
    """Messages by ts, normalised for the page, and a log of what the Pis did to them."""

    def __init__(self, person: dict[str, str], apps: list[dict[str, str]]) -> None:
        self.person_id = person["id"]
        self.names: dict[str, str] = {person["id"]: "you"}
        self.bots: dict[str, str] = {}
        for app in apps:
            self.names[app["bot_user_id"]] = app["name"]
            self.bots[app["bot_id"]] = app["name"]
        self.messages: dict[str, dict[str, Any]] = {}
        self.activity: deque[dict[str, Any]] = deque(maxlen=200)

    def name(self, user: str | None) -> str:
        return self.names.get(user or "", user or "someone")

    def text(self, raw: str) -> str:
        """Slack text as plain text: mentions by name, entities decoded, emoji codes drawn."""
        text = _MENTION.sub(lambda m: "@" + self.name(m.group(1)), raw or "")
        text = _EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)
        return unescape(text)

    def log(self, text: str, kind: str = "slack", ts: str | None = None) -> dict[str, Any]:
        entry = {"type": "activity", "time": time.time(), "kind": kind, "text": text, "ts": ts}
        self.activity.append(entry)
        return entry

    # -- messages ------------------------------------------------------------

    def normalise(self, msg: dict[str, Any], metadata: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
        bot = self.bots.get(msg.get("bot_id") or "")
        meta = metadata or msg.get("metadata") or {}
        payload = meta.get("event_payload") or {}
        thread = msg.get("thread_ts")
        out = {
            "ts": msg["ts"],
            "parent": thread if thread and thread != msg["ts"] else None,
            "author": bot or self.name(msg.get("user")),
            "kind": "pi" if bot else ("person" if msg.get("user") == self.person_id else "other"),
            "text": self.text(msg.get("text", "")),
            "time": float(msg["ts"]),
            "edited": "edited" in msg,
            "reactions": [],
            "pinned_by": None,
            "events": [],
            "trail": [],
            "is_command": meta.get("event_type") == COMMAND_EVENT,
            "reply_to": payload.get("command_ts") if meta.get("event_type") == REPLY_EVENT
            else None,
            "blocks": self.blocks(msg.get("blocks")),
        }
        for r in msg.get("reactions") or []:
            out["reactions"].append(self._reaction(r["name"], r.get("users", [])))
        firing = _FIRING.match(out["text"])
        if firing:
            out["kind"] = "protocol"
            out["text"] = (f"⏰ Slack posted schedule {firing.group(1)} ({firing.group(2)}), "
                           f"whichever Pis are alive: {firing.group(3)}")
        bid = _TAKEOVER.match(msg.get("text", ""))
        if bid:
            taker, holder = self.name(bid.group(1)), self.name(bid.group(2))
            out["kind"] = "protocol"
            out["text"] = (f"{taker} takes back its own claim after restarting (slackmq election)"
                           if taker == holder else f"{taker} bids to take over the claim of "
                           f"{holder}, silent for a lease (slackmq election)")
        beat = _HEARTBEAT.match(msg.get("text", ""))
        if beat:
            out["kind"] = "protocol"
            out["text"] = f"{self.name(beat.group(1))} is still working on it (slackmq heartbeat)"
        turn = _TURN.match(msg.get("text", ""))
        if turn:
            out["kind"] = "protocol"
            out["text"] = f"{self.name(turn.group(1))} takes its turn (slackmq sequence)"
        return out

    def blocks(self, blocks: Any) -> list[dict[str, Any]] | None:
        """Block Kit as the page draws it: lines of text, rows of buttons, small notes."""
        if not isinstance(blocks, list) or not blocks:
            return None
        out: list[dict[str, Any]] = []
        for block in blocks:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            text = (block.get("text") or {}).get("text") if isinstance(block.get("text"),
                                                                        dict) else None
            if kind == "section" and isinstance(text, str):
                out.append({"kind": "text", "text": self.text(text)})
            elif kind == "context":
                notes = [e.get("text", "") for e in block.get("elements") or []
                         if isinstance(e, dict)]
                out.append({"kind": "note", "text": self.text(" ".join(notes))})
            elements = [*(block.get("elements") or []), block.get("accessory")]
            buttons = [{"action_id": e.get("action_id"), "style": e.get("style"),
                        "label": str((e.get("text") or {}).get("text") or "")}
                       for e in elements if isinstance(e, dict) and e.get("type") == "button"]
            if buttons:
                out.append({"kind": "buttons", "buttons": buttons})
        return out

    def _on_interaction(self, item: dict[str, Any], metadata: Any) -> list[dict[str, Any]]:
        who = self.name(item.get("user"))
        return [self.log(f"{who} clicked a button of {item.get('app')}: Slack sends the click "
                         f"to {item.get('app')} only, which posts its command", "slack")]

    def _on_view_published(self, item: dict[str, Any], metadata: Any) -> list[dict[str, Any]]:
        if item.get("user") != self.person_id:
            return []
        return [{"type": "home", "pi": item.get("app"),
                 "blocks": self.blocks((item.get("view") or {}).get("blocks")) or []}]

    def _reaction(self, name: str, users: list[str]) -> dict[str, Any]:
        return {"name": name, "emoji": emoji(name), "meaning": MARKER_MEANING.get(name),
                "users": [self.name(u) for u in users], "user_ids": list(users)}

    def about(self, ts: str) -> str:
        msg = self.messages.get(ts)
        return f"“{short(msg['text'])}”" if msg else f"message {ts}"

    # -- the feed ------------------------------------------------------------

    def apply(self, item: dict[str, Any], metadata: dict[str, Any] | None = None
              ) -> list[dict[str, Any]]:
        """What changed for the page, as a list of page events."""
        kind = item.get("type")
        handler = getattr(self, f"_on_{kind}", None)
        return handler(item, metadata) if handler else []

    def _on_message_posted(self, item: dict[str, Any], metadata: Any) -> list[dict[str, Any]]:
        msg = self.normalise(item["message"], metadata)
        self.messages[msg["ts"]] = msg
        return [{"type": "message", "message": msg}]

    def _on_message_updated(self, item: dict[str, Any], metadata: Any) -> list[dict[str, Any]]:
        old = self.messages.get(item["message"]["ts"])
        msg = self.normalise(item["message"], metadata)
        if old:
            for key in ("pinned_by", "events", "trail", "is_command", "reply_to"):
                msg[key] = old[key] or msg[key]
        self.messages[msg["ts"]] = msg
        return [{"type": "message", "message": msg}]

    def _on_message_deleted(self, item: dict[str, Any], metadata: Any) -> list[dict[str, Any]]:
        self.messages.pop(item["ts"], None)
        return [{"type": "message_deleted", "ts": item["ts"]}]

    def _on_pin_added(self, item: dict[str, Any], metadata: Any) -> list[dict[str, Any]]:
        return self._pin(item, True)

    def _on_pin_removed(self, item: dict[str, Any], metadata: Any) -> list[dict[str, Any]]:
        return self._pin(item, False)

    def _pin(self, item: dict[str, Any], added: bool) -> list[dict[str, Any]]:
        ts, who = item["ts"], self.name(item.get("by"))
        msg = self.messages.get(ts)
        events: list[dict[str, Any]] = []
        if msg is not None:
            msg["pinned_by"] = who if added else None
            msg["events"].append({"by": who, "what": "pinned" if added else "unpinned",
                                  "at": time.time()})
            msg["trail"] = trail(msg["events"], msg["pinned_by"])
            events.append({"type": "message", "message": msg})
        what = "pinned" if added else "unpinned"
        why = "its claim: Slack refuses a second pin" if added else "releases the claim"
        events.append(self.log(f"{who} {what} {self.about(ts)} ({why})", "pin", ts))
        return events

    def _on_reaction_added(self, item: dict[str, Any], metadata: Any) -> list[dict[str, Any]]:
        return self._react(item, True)

    def _on_reaction_removed(self, item: dict[str, Any], metadata: Any) -> list[dict[str, Any]]:
        return self._react(item, False)

    def _react(self, item: dict[str, Any], added: bool) -> list[dict[str, Any]]:
        ts, name, user = item["ts"], item["reaction"], item.get("user", "")
        msg = self.messages.get(ts)
        events: list[dict[str, Any]] = []
        if msg is not None:
            users = {r["name"]: list(r["user_ids"]) for r in msg["reactions"]}
            current = users.setdefault(name, [])
            if added and user not in current:
                current.append(user)
            if not added and user in current:
                current.remove(user)
            msg["reactions"] = [self._reaction(n, u) for n, u in users.items() if u]
            if name in MARKER_MEANING and added:
                msg["events"].append({"by": self.name(user), "what": "marked",
                                      "outcome": MARKER_MEANING[name]})
                msg["trail"] = trail(msg["events"], msg["pinned_by"])
            events.append({"type": "message", "message": msg})
        meaning = MARKER_MEANING.get(name)
        note = f" (marks it {meaning})" if meaning and added else ""
        verb = "reacted" if added else "took back"
        events.append(self.log(f"{self.name(user)} {verb} {emoji(name)} on {self.about(ts)}{note}",
                               "reaction", ts))
        return events

    def _on_ephemeral(self, item: dict[str, Any], metadata: Any) -> list[dict[str, Any]]:
        if item.get("user") != self.person_id:
            return []
        ts = item.get("ts") or f"{time.time():.6f}"
        msg = {"ts": ts, "parent": None, "author": "only visible to you", "kind": "ephemeral",
               "text": self.text(item.get("text", "")), "time": float(ts), "edited": False,
               "reactions": [], "pinned_by": None, "events": [], "trail": [], "is_command": False,
               "reply_to": None}
        return [{"type": "message", "message": msg}]

    def snapshot(self, limit: int = 400) -> list[dict[str, Any]]:
        ordered = sorted(self.messages.values(), key=lambda m: m["time"])
        return ordered[-limit:]


def trail(events: list[dict[str, Any]], pinned_by: str | None) -> list[dict[str, Any]]:
    """What each Pi did with a command, in order: one step per Pi, in words.

    `events` are pins, unpins and outcome markers ({"by", "what", "outcome"?, "at"?}),
    oldest first. A Pi that pinned after another marked the command done
    "pinned late"; a Pi whose pin someone else removed "stopped answering". The
    live claim carries `claimed_at` (wall clock of its pin): its lease runs from there,
    so the page can count it down while the claimer is silent.
    """
    actors = list(dict.fromkeys(e["by"] for e in events))
    steps: list[dict[str, Any]] = []
    finished: list[str] = []  # Pis that only marked it (broadcast commands): one step
    for actor in actors:
        mine = [i for i, e in enumerate(events) if e["by"] == actor]
        did = {events[i]["what"] for i in mine}
        outcome = next((events[i]["outcome"] for i in mine if events[i]["what"] == "marked"), None)
        first = mine[0]
        late = any(e["what"] == "marked" for e in events[:first])
        if "pinned" not in did:
            if outcome == "interrupted":
                steps.append(_step(f"{actor} took over · reported it interrupted", "interrupted"))
            elif outcome:
                finished.append(actor)
            continue
        if pinned_by == actor:
            text, tone = (f"{actor} claimed · {outcome}" if outcome else
                          f"{actor} claimed it · running"), "claim"
        elif outcome:
            text, tone = f"{actor} claimed · {outcome} · unpinned", outcome
        elif late:
            text, tone = f"{actor} pinned late · saw it done · unpinned", "late"
        elif "unpinned" not in did:
            text, tone = f"{actor} claimed · did not finish", "failed"
        else:
            text, tone = f"{actor} claimed · unpinned", "late"
        step = _step(text, tone, live=pinned_by == actor)
        if step["live"]:
            pins = [events[i].get("at") for i in mine if events[i]["what"] == "pinned"]
            step["claimed_at"] = pins[-1]
        steps.append(step)
    if finished:
        outcomes = {e.get("outcome") for e in events if e["by"] in finished}
        tone = "done" if outcomes == {"done"} else "failed"
        steps.append(_step(f"{'done' if tone == 'done' else 'finished'} · {', '.join(finished)}",
                           tone))
    return steps


def _step(text: str, tone: str, live: bool = False) -> dict[str, Any]:
    return {"text": text, "tone": tone, "live": live}
