"""Each Pi's App Home tab: the house as this Pi knows it, with the panels' buttons.

When a person opens the app's Home tab Slack sends that app ``app_home_opened``; the Pi
answers with ``views.publish``: the panels its plugins show (lights, sensors, scenes: the
same rows and buttons as in the channel), then the Pis of the house and their versions,
from their boards. A click on the Home tab comes back to this Pi like a click on a panel
(troupe.clicks); once its command is answered, the person's Home tab is published again.
A person who may not command the house sees only that.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_sdk.errors import SlackApiError

from troupe.config import NOT_A_USER
from troupe.text import escape

log = logging.getLogger("troupe.home")

HOME_PANELS = ("lights", "sensors", "scenes")
MAX_VIEW_BLOCKS = 100  # Slack's limit for a view


class Home:
    def __init__(self, bot: Any) -> None:
        self.bot = bot
        # Every board says which release its Pi runs: the Home tab lists them.
        bot.roster.board.fields.setdefault("version", bot.version)

    def opened(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home" and isinstance(event.get("user"), str):
            self.publish(event["user"])

    def publish(self, user: str) -> None:
        try:
            self.bot.web.views_publish(user_id=user, view={"type": "home",
                                                           "blocks": self.blocks(user)})
        except SlackApiError as e:
            log.warning("%s could not publish the Home tab for %s: %s", self.bot.name, user,
                        e.response.get("error"))

    def blocks(self, user: str) -> list[dict[str, Any]]:
        bot = self.bot
        title = f"*The house*, as {escape(bot.name)} sees it (Troupe {escape(bot.version)})"
        blocks: list[dict[str, Any]] = [_section(title, "home:title")]
        if not bot.authors.authorized(user):
            blocks.append(_section(f"Sorry, {NOT_A_USER}", "home:refused"))
            return blocks
        for name in HOME_PANELS:
            for plugin in bot.plugins:
                panel = plugin.panel(name)
                if panel is not None:
                    blocks += [{"type": "divider", "block_id": f"home:{name}"}, *panel.blocks()]
                    break
        blocks += [{"type": "divider", "block_id": "home:pis"}, _section(self._pis(), "home:pi")]
        return blocks[:MAX_VIEW_BLOCKS]

    def _pis(self) -> str:
        """The Pis of the house and their versions, from their boards."""
        bot = self.bot
        boards = bot.boards()
        lines = [f"- {escape(bot.name)}: Troupe {escape(bot.version)} (this Pi, up "
                 f"{_duration(bot.uptime())})"]
        now = time.time()
        for name in sorted(set(bot.federation_members()) | set(boards)):
            if name == bot.name:
                continue
            board = boards.get(name)
            if board is None:
                lines.append(f"- {escape(name)}: no board found (known from its messages)")
                continue
            version, started, updated = (board.get(k) for k in ("version", "started", "updated"))
            line = f"- {escape(name)}: " + (f"Troupe {escape(str(version))}" if version
                                             else "no version on its board")
            if isinstance(started, int | float):
                line += f", started {_duration(max(0.0, now - started))} ago"
            if isinstance(updated, int | float):
                line += f", board last updated {_duration(max(0.0, now - updated))} ago"
            lines.append(line)
        return ("*Pis of this house*, from their boards (a Pi that stopped still shows its last "
                "board):\n" + "\n".join(lines) + f"\n_Updated {time.strftime('%H:%M:%S')}_")


def _section(text: str, block_id: str) -> dict[str, Any]:
    return {"type": "section", "block_id": block_id,
            "text": {"type": "mrkdwn", "text": text[:3000]}}


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
