"""Who speaks for the federation: the proof on the Pis' messages, their boards, the roster.

Every Pi of a house reads the same federation secret (``TROUPE_FEDERATION_SECRET`` or
``[federation] secret``). Each message a Pi posts with metadata carries in its
``event_payload`` a ``proof``: an HMAC-SHA256 over the channel, the posting bot's user
id, the event type, the text, the payload's other fields and an issued-at time. Slack
authenticates the poster's user id, so a copy of a Pi's message posted by another app
fails the proof; a proof issued more than ``max_age`` from the message's own ts (Slack's
clock; for an edited message, the time of its last edit) is refused too.

Live events carry no ``event_payload`` on Slack: proofs are checked where the payload is
read (a command re-read with ``include_all_metadata``, a thread read, a board).

The roster: a user id is a Pi once one of its messages proved it. Each Pi keeps one
message of its own, its board (event type ``troupe_board``), so that an idle Pi is known
too: posted at start only when the others cannot find it (it is remembered in the state
folder), edited in place later (``Board.update(devices=...)``). A Pi reads the boards at
start (history, paged, bounded) and verifies every board posted later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from troupe.authors import read_message
from troupe.files import write_atomic
from troupe.text import unescape

log = logging.getLogger("troupe.federation")

SECRET_ENV = "TROUPE_FEDERATION_SECRET"
SECRET_MIN = 16  # characters
PROOF = "proof"  # the event_payload field holding "<issued at>:<hex hmac>"
BOARD_EVENT = "troupe_board"
BOARD_PAGES = 5  # history pages of 200 read at start looking for boards
GATHER_POLL = 0.25  # seconds between looks at a thread while gathering answers
RECHECK_EVERY = 60.0  # s: an unknown bot's pin or reaction re-reads the newest page this often


def why(e: Exception) -> str:
    """What went wrong with a Slack call, for a log line: Slack's error, else the exception."""
    if isinstance(e, SlackApiError):
        return str(e.response.get("error"))
    return f"{type(e).__name__}: {e}"


def new_secret() -> str:
    """A fresh random federation secret (`troupe secret`): 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


class Seal:
    """Signs and verifies the metadata of the Pis' messages in one channel."""

    def __init__(self, secret: str, max_age: float = 300.0):
        self._key = secret.encode()
        self.channel = ""
        self.user_id = ""
        self.max_age = max_age
        self._warned: set[str] = set()

    def serve(self, channel: str, user_id: str) -> None:
        self.channel, self.user_id = channel, user_id

    def fingerprint(self) -> str:
        """Names this secret without revealing it: what the Pis learnt under an old secret
        (a Pi retired by giving the others a new one) is not carried over."""
        return hmac.new(self._key, b"troupe-roster", hashlib.sha256).hexdigest()[:16]

    def _mac(self, channel: str, poster: str, event_type: str, text: str,
             payload: dict[str, Any], issued: int) -> str:
        fields = {k: v for k, v in payload.items() if k != PROOF}
        body = json.dumps([1, channel, poster, event_type, text, fields, issued],
                          sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    def metadata(self, event_type: str, text: str, payload: dict[str, Any], *,
                 at: float | None = None) -> dict[str, Any]:
        """Metadata for a message this Pi posts with `text` (as sent): the payload with its
        proof. `at`: when it will be posted (a scheduled message), else now."""
        issued = int(time.time() if at is None else at)
        mac = self._mac(self.channel, self.user_id, event_type, text, payload, issued)
        return {"event_type": event_type,
                "event_payload": {**payload, PROOF: f"{issued}:{mac}"}}

    def verify(self, message: dict[str, Any]) -> bool:
        """Whether `message` (as history holds it, with its full metadata) was posted by a Pi
        of this house: its proof matches its poster, channel, type, text and fields."""
        metadata = message.get("metadata") or {}
        payload = metadata.get("event_payload")
        poster = message.get("user") or ""
        ok = False
        if isinstance(payload, dict) and isinstance(payload.get(PROOF), str):
            issued, _, mac = payload[PROOF].partition(":")
            try:
                # An edit (a board, a scene's answer) is signed anew: Slack's time of the
                # last edit, which only the poster can make, is the message's own time.
                when = (message.get("edited") or {}).get("ts") or message.get("ts", 0)
                fresh = abs(float(when) - int(issued)) <= self.max_age + 5
                want = self._mac(self.channel, poster, str(metadata.get("event_type", "")),
                                 str(message.get("text", "")), payload, int(issued))
                ok = fresh and hmac.compare_digest(want, mac)
            except (TypeError, ValueError):
                ok = False
        if not ok and poster not in self._warned:  # once per poster: a stranger may flood
            self._warned.add(poster)
            log.debug("ignored a message from %s without a valid federation proof (%s)",
                      poster, message.get("ts"))
        return ok


class Roster:
    """Who is a Pi of this house (user id -> host name): proven by a verified message."""

    def __init__(self, web: WebClient, seal: Seal, host: str, state_dir: str | Path):
        self.web, self.seal, self.host = web, seal, host
        self.channel = ""
        self.user_id = ""
        self._pis: dict[str, str] = {}
        self._is_bot: dict[str, bool] = {}
        self._rechecked: dict[str, float] = {}
        self._members: list[str] = []  # the channel's bots, read at most once a minute
        self._members_read = -RECHECK_EVERY
        self._boards: dict[str, str] = {}  # user id -> the ts of its newest board seen
        self._lock = threading.Lock()
        self._looking = threading.Lock()
        self.board = Board(self, Path(state_dir) / f"{host}.board.json")
        # The Pis verified before, kept across restarts: a Pi restarted in a busy channel may
        # not reach the others' boards in the history it reads, and would then ignore their
        # done markers and run again what catch-up finds. Kept under the secret they were
        # proven with: a new secret (how a Pi is retired, docs/security.md) forgets them.
        self._known = Path(state_dir) / f"{host}.pis.json"
        try:
            kept = json.loads(self._known.read_text())
            if kept.get("secret") == seal.fingerprint():
                self._pis.update({str(k): str(v) for k, v in kept["pis"].items()})
            else:
                log.info("%s: the Pis in %s were proven under another federation secret; "
                         "learning them again", host, self._known)
        except (OSError, ValueError, AttributeError, KeyError):
            pass  # none yet, or unreadable: learnt again from the boards and messages

    def serve(self, channel: str, user_id: str) -> None:
        self.channel, self.user_id = channel, user_id
        self.seal.serve(channel, user_id)
        self.learn(user_id, self.host)

    # ---- who is a Pi -------------------------------------------------------
    def learn(self, user_id: str, host: str) -> None:
        if user_id:
            with self._lock:
                if self._pis.get(user_id) == host:
                    return
                log.info("%s knows %s as the Pi %s", self.host, user_id, host)
                self._pis[user_id] = host
                known = json.dumps({"secret": self.seal.fingerprint(), "pis": self._pis},
                                   sort_keys=True)
            try:
                write_atomic(self._known, known + "\n", mode=0o600)
            except OSError as e:
                log.warning("%s could not keep the Pis it knows in %s (%s)", self.host,
                            self._known, e)

    def is_pi(self, user_id: str | None) -> bool:
        with self._lock:
            return bool(user_id) and user_id in self._pis

    def pis(self) -> dict[str, str]:
        """The Pis known: bot user id -> host name."""
        with self._lock:
            return dict(self._pis)

    def only_pis(self, reactions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`reactions` (Slack's shape) with only the Pis' own: nobody else's mark counts."""
        kept = [{**r, "users": [u for u in r.get("users", []) if self.maybe_pi(u)]}
                for r in reactions]
        return [r for r in kept if r["users"]]

    def names(self) -> list[str]:
        return sorted(set(self.pis().values()))

    def verified(self, message: dict[str, Any]) -> bool:
        """`message` (full metadata) is a Pi's: its proof holds; its poster joins the roster."""
        if not self.seal.verify(message):
            return False
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        self.learn(message.get("user", ""), str(payload.get("host") or message.get("user")))
        return True

    def maybe_pi(self, user_id: str | None) -> bool:
        """Whether `user_id` is a Pi, looking once more (the newest history page, at most once
        a RECHECK_EVERY per user) when it is a bot not known yet: a Pi started since."""
        if not user_id or self.is_pi(user_id):
            return bool(user_id)
        if not self._bot(user_id):
            return False
        with self._looking:  # one look at a time: a second asker waits for the first's answer
            if self.is_pi(user_id):
                return True
            now = time.monotonic()
            if now - self._rechecked.get(user_id, -RECHECK_EVERY) < RECHECK_EVERY:
                return False
            self._rechecked[user_id] = now
            self.read_boards(pages=1)
        return self.is_pi(user_id)

    # ---- boards --------------------------------------------------------------
    def start(self) -> None:
        """At start: read the boards, then keep this Pi's own where the others find it."""
        try:
            self.board.publish(self.read_boards())
        except (SlackApiError, OSError) as e:  # OSError: a hang, a refused connection
            log.warning("%s could not read or post the boards (%s); learning the Pis from "
                        "their messages", self.host, why(e))

    def settle(self) -> None:
        """Before a choice that rests on knowing every Pi (which Pi refuses a stranger, after a
        reconnect): look for the boards of the channel's bots not known yet, each at most once
        a RECHECK_EVERY. Pis that start at the same moment (a power cut ends for every Pi at
        once) post their boards while the others are not listening yet; without this each
        would take itself for the first Pi in line."""
        try:
            now = time.monotonic()
            if now - self._members_read > RECHECK_EVERY:
                self._members, self._members_read = self._bot_members(), now
            for user in self._members:
                self.maybe_pi(user)
        except (SlackApiError, OSError) as e:  # OSError: a hang, a refused connection
            log.warning("%s could not look for new Pis (%s)", self.host, why(e))

    def on_board(self, message: dict[str, Any]) -> None:
        """A board posted live (no payload): read it again with its metadata and verify it."""
        try:
            stored = read_message(self.web, self.channel, message)
        except (SlackApiError, OSError) as e:  # OSError: a hang, a refused connection
            log.warning("%s could not read the board %s (%s)", self.host, message.get("ts"),
                        why(e))
            return
        if stored is not None:
            self._board_seen(stored)

    def read_boards(self, pages: int = BOARD_PAGES) -> set[str]:
        """Read boards from the newest history until every bot of the channel is resolved or
        `pages` pages are read; the ts of the boards found."""
        bots = self._bot_members()
        found: set[str] = set()
        cursor = None
        for _ in range(pages):
            page = self.web.conversations_history(channel=self.channel, limit=200, cursor=cursor,
                                                  include_all_metadata=True)
            for message in page.get("messages", []):
                if ((message.get("metadata") or {}).get("event_type") == BOARD_EVENT
                        and self._board_seen(message)):
                    found.add(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor or set(bots) <= set(self.pis()):
                break
        return found

    def _board_seen(self, message: dict[str, Any]) -> bool:
        """A board read with its metadata: verified, its Pi known, its ts kept for boards()."""
        if not self.verified(message):
            return False
        with self._lock:
            user = message.get("user", "")
            if float(message["ts"]) > float(self._boards.get(user, "0")):
                self._boards[user] = message["ts"]
        return True

    def boards(self) -> dict[str, dict[str, Any]]:
        """The other Pis' boards as they are now, {host: fields}: each read once, all at the
        same time, and verified. A board not found or not readable is left out. `updated`:
        when its Pi last posted or edited it (Slack's time)."""
        with self._lock:
            wanted = [ts for user, ts in self._boards.items() if user != self.user_id]

        def read(ts: str) -> dict[str, Any] | None:
            try:
                return read_message(self.web, self.channel, {"ts": ts})
            except (SlackApiError, OSError) as e:  # OSError: a hang, a refused connection
                log.warning("%s could not read the board %s (%s)", self.host, ts,
                            why(e))
                return None

        with ThreadPoolExecutor(max(1, len(wanted)), thread_name_prefix="boards") as pool:
            found = [m for m in pool.map(read, wanted) if m and self.seal.verify(m)]
        return {str(fields.get("host")): fields for fields in (
            {**((m.get("metadata") or {}).get("event_payload") or {}),
             "updated": float((m.get("edited") or {}).get("ts") or m["ts"])} for m in found)}

    def _bot_members(self) -> list[str]:
        members, cursor = [], None
        while True:
            page = self.web.conversations_members(channel=self.channel, limit=500, cursor=cursor)
            members += page.get("members", [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return [m for m in members if self._bot(m)]

    def _bot(self, user_id: str) -> bool:
        if user_id not in self._is_bot:
            try:
                info = self.web.users_info(user=user_id).get("user") or {}
            except SlackApiError:
                return False
            self._is_bot[user_id] = bool(info.get("is_bot")) and not info.get("deleted")
        return self._is_bot[user_id]


def gather_answers(web: WebClient, channel: str, thread_ts: str, ask: str, hosts: set[str],
                   wait: float, verified: Callable[[dict[str, Any]], bool],
                   on_answer: Callable[[dict[str, str]], None] | None = None) -> dict[str, str]:
    """The Pis' answers to the command `ask` in the thread `thread_ts` ({host: text}), read
    until every one of `hosts` answered or `wait` seconds passed (Bot.gather). Only answers
    with a valid proof count: no other app answers for a Pi."""
    got: dict[str, str] = {}
    deadline = time.monotonic() + wait
    while True:
        page = web.conversations_replies(channel=channel, ts=thread_ts, oldest=ask,
                                         include_all_metadata=True, limit=200)
        new = {}
        for message in page.get("messages", []):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            host = payload.get("host")
            if (payload.get("command_ts") == ask and host in hosts and host not in got
                    and verified(message)):
                new[host] = unescape(message.get("text", ""))
        if new:
            got.update(new)
            if on_answer:
                on_answer(dict(got))
        if set(got) >= set(hosts) or time.monotonic() > deadline:
            return got
        time.sleep(GATHER_POLL)  # polling the thread for answers, with a deadline


class Board:
    """This Pi's board: one message of its own that says it is a Pi of this house (and, for
    who reads it, its devices' state: ``update(devices=...)``). Never pinned: pins are claims."""

    def __init__(self, roster: Roster, path: Path):
        self.roster, self.path = roster, path
        # Since when this Pi runs, for a roll call (its version: troupe.home puts it here).
        self.fields: dict[str, Any] = {"host": roster.host, "devices": {},
                                       "started": round(time.time())}
        self._lock = threading.Lock()
        self.ts = self._load()

    def _load(self) -> str | None:
        try:
            ts = json.loads(self.path.read_text()).get("ts")
        except (OSError, ValueError, AttributeError):
            return None
        return ts if isinstance(ts, str) else None

    def _text(self) -> str:
        return (f"{self.roster.host}'s board: this Pi belongs to the house "
                "(kept by Troupe; please leave it)")

    def publish(self, found: set[str]) -> None:
        """At start: edit the board the others can find (`found`: the boards read), else post
        a new one (and delete the old one, if any)."""
        with self._lock:
            if self.ts in found and self._edit():
                return
            old, self.ts = self.ts, None
            self._post()
        if old:
            try:
                self.roster.web.chat_delete(channel=self.roster.channel, ts=old)
            except SlackApiError:
                pass  # gone already, or not ours to delete: the new board stands

    def update(self, **fields: Any) -> None:
        """Change the board's fields (e.g. ``devices={"dining": "on"}``) and edit it in place."""
        with self._lock:
            self.fields.update(fields)
            if self.ts and not self._edit():
                self._post()

    def _metadata(self, text: str) -> dict[str, Any]:
        return self.roster.seal.metadata(BOARD_EVENT, text, dict(self.fields))

    def _edit(self) -> bool:
        text = self._text()
        try:
            self.roster.web.chat_update(channel=self.roster.channel, ts=self.ts, text=text,
                                        metadata=self._metadata(text))
            return True
        except SlackApiError as e:
            log.info("%s could not edit its board %s (%s); posting a new one", self.roster.host,
                     self.ts, why(e))
            return False

    def _post(self) -> None:
        text = self._text()
        response = self.roster.web.chat_postMessage(channel=self.roster.channel, text=text,
                                                    metadata=self._metadata(text))
        self.ts = response.get("ts")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps({"ts": self.ts}) + "\n")
        except OSError as e:
            log.warning("%s cannot remember its board in %s (%s): the next start posts another",
                        self.roster.host, self.path, e.strerror or e)
