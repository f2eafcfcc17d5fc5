"""Buttons: a click on a panel becomes the command it stands for, run once, for who clicked.

Slack sends a click (``block_actions``) only to the app that posted the message, so only
this Pi hears it. The Pi does not run it itself: it posts the button's command as a
federation command on behalf of the person who clicked (in the panel's thread), exactly
as a schedule or a scene does. From there the command is what a typed one is: the same
authorization (checked here first, so a refused click posts nothing and its refusal is
one ephemeral message to the person), the same claims (the Pi that can run it claims it;
exclusivity with typed commands follows the device's usual rules; a takeover finishes it
if its Pi dies), the same answer. Then this Pi renders the panel again (the plugin's
``panel(name)``) and edits it in place.

Exactly once: a click is known by its ``action_ts`` and who clicked. Slack delivers it
again when an acknowledgement is lost; this Pi remembers recent clicks in the process and,
across a restart, in ``<state_dir>/<host>-clicks.json``, written (atomically) before the
command is posted: a click is posted at most once, and its command then runs once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from slack_sdk.errors import SlackApiError

from troupe.config import NOT_A_USER, NOT_AN_ADMIN
from troupe.files import write_atomic
from troupe.home import Home
from troupe.panels import REFRESH, panel_name
from troupe.refusals import Refusals
from troupe.seen import SeenMessages
from troupe.slack_web import why
from troupe.text import command_text, escape, excerpt

log = logging.getLogger("troupe.clicks")

CLICK_EVENTS = ("block_actions", "app_home_opened")
ANSWER_WAIT = 15.0  # seconds to wait for a clicked command's answer before updating anyway
ANSWER_POLL = (0.3, 2.0)  # seconds between looks for it: first, and at most (x1.5 each)
REMEMBERED = 500  # clicks kept on disk


class Clicks:
    """One Pi's clicks: authorized, posted once as commands, panels updated after."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot
        self.seen = SeenMessages(5000)
        # Only this Pi hears a click, so this Pi refuses it (still at most 3 a minute).
        self.refusals = Refusals(bot.web, bot.name, lambda key: True)
        self.path = Path(bot.config.state_dir) / f"{bot.name}-clicks.json"
        self._done: deque[str] | None = None
        self._lock = threading.Lock()
        self.home = Home(bot) if hasattr(bot, "roster") else None  # the App Home tab

    def handle(self, kind: str, payload: dict[str, Any]) -> None:
        if kind == "block_actions":
            self.click(payload)
        elif kind == "app_home_opened" and self.home is not None:
            self.home.opened(payload)

    # ---- a click ------------------------------------------------------------------------
    def click(self, payload: dict[str, Any]) -> None:
        bot = self.bot
        user = str((payload.get("user") or {}).get("id") or "")
        actions = payload.get("actions") or []
        if not user or not actions or not isinstance(actions[0], dict):
            log.warning("%s ignored a malformed click", bot.name)
            return
        action = actions[0]
        key = f"{action.get('action_ts')}:{user}"
        text = command_text(str(action.get("value") or ""))
        if not self.seen.first_time(key) or not self._first_time_here(key):
            log.info("%s click %s (%r) delivered again: already posted", bot.name, key, text)
            return
        container = payload.get("container") or {}
        panel_ts = container.get("message_ts") if container.get("type") == "message" else None
        if not bot.authors.authorized(user):
            self.refusals.refuse(bot.channel_id, key, user, f"Sorry, {NOT_A_USER}", text)
            return
        if text == REFRESH:  # the panel read again, nothing run
            self._refresh_after(payload, None, None, user)
            return
        found = bot._match(text) if text else None
        if found is None:
            self._tell(user, f"Sorry, the button `{excerpt(text)}` is not a command {bot.name} "
                             "knows (the panel may be from an older release): type it instead.")
            return
        spec = found[1]
        if spec.admin and not bot.config.may_administer(user):
            self.refusals.refuse(bot.channel_id, key, user,
                                 f"Sorry, {NOT_AN_ADMIN.format(spec.name)}", text)
            return
        thread = container.get("thread_ts") or panel_ts
        self._remember(key)  # before posting: a click is posted at most once
        try:
            ask = bot.post_command(text, on_behalf_of=user, thread_ts=thread)
        except Exception as e:  # noqa: BLE001 - told to the person: nothing was posted
            log.warning("%s could not post clicked %r: %s", bot.name, text, why(e))
            self._tell(user, f"Sorry, {bot.name} could not pass on `{excerpt(text)}` "
                             f"({escape(why(e))}): type it instead.")
            return
        log.info("%s click %s by %s: posted %r as %s", bot.name, key, user, text, ask)
        if ask:
            threading.Thread(target=self._refresh_after, name="click-refresh", daemon=True,
                             args=(payload, ask, thread, user)).start()

    def _refresh_after(self, payload: dict[str, Any], ask: str | None, thread: str | None,
                       user: str) -> None:
        """Wait for the clicked command's answer, then show the new state where it was
        clicked: the panel edited in place, or the person's Home tab published again."""
        try:
            if ask:
                self.wait_for_answer(ask, thread)
            container = payload.get("container") or {}
            if container.get("type") == "view":
                if self.home is not None:
                    self.home.publish(user)
                return
            blocks = (payload.get("message") or {}).get("blocks")
            self.update_panel(container.get("message_ts"), panel_name(blocks))
        except Exception as e:  # noqa: BLE001 - the command ran; only the panel is stale
            log.warning("%s could not update the panel after %s: %s", self.bot.name, ask, why(e))

    def wait_for_answer(self, ask: str, thread: str | None, wait: float = ANSWER_WAIT) -> bool:
        """Whether an answer to the command `ask` came (from a Pi of the house) in time."""
        bot = self.bot
        deadline = time.monotonic() + wait
        pause = ANSWER_POLL[0]  # backing off: a command nobody answers costs ~12 reads, not 50
        while True:
            if thread:
                page = bot.web.conversations_replies(channel=bot.channel_id, ts=thread,
                                                     oldest=ask, include_all_metadata=True,
                                                     limit=200)
            else:
                page = bot.web.conversations_history(channel=bot.channel_id, oldest=ask,
                                                     include_all_metadata=True, limit=200)
            for message in page.get("messages", []):
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("command_ts") == ask and bot.verified(message):
                    return True
            if time.monotonic() > deadline:
                return False
            time.sleep(pause)  # polling for the answer, with a deadline
            pause = min(pause * 1.5, ANSWER_POLL[1])

    def update_panel(self, ts: str | None, name: str | None) -> bool:
        """Render the panel `name` again and edit the message `ts` with it."""
        if not ts or not name:
            return False
        for plugin in self.bot.plugins:
            panel = plugin.panel(name)
            if panel is not None:
                self.bot.edit(ts, panel.fallback(), blocks=panel.blocks())
                return True
        return False

    # ---- helpers ------------------------------------------------------------------------
    def _tell(self, user: str, text: str) -> None:
        try:
            self.bot.web.chat_postEphemeral(channel=self.bot.channel_id, user=user, text=text)
        except SlackApiError as e:
            log.warning("%s could not tell %s: %s", self.bot.name, user, e.response.get("error"))

    def _load(self) -> deque[str]:
        if self._done is None:
            try:
                keys = json.loads(self.path.read_text())
            except FileNotFoundError:
                keys = []
            except (OSError, ValueError) as e:
                log.warning("%s cannot read %s (%s): starting with no clicks remembered",
                            self.bot.name, self.path, e)
                keys = []
            self._done = deque((k for k in keys if isinstance(k, str)), maxlen=REMEMBERED)
        return self._done

    def _first_time_here(self, key: str) -> bool:
        with self._lock:
            return key not in self._load()

    def _remember(self, key: str) -> None:
        with self._lock:
            done = self._load()
            done.append(key)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(self.path, json.dumps(list(done)))
            except OSError as e:  # the process still remembers it; only a restart would not
                log.warning("%s cannot write %s: %s", self.bot.name, self.path, e)
