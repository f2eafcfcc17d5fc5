"""Panels: an answer that shows devices, with buttons that run the commands one would type.

A plugin builds a `Panel` (rows of a line of text and some buttons) and answers with it
(`ctx.panel(panel)`); it names the panel (`name`) and renders it again on request
(`Plugin.panel(name)`), so the Pi whose panel was clicked can update it in place. Every
button's value is a command, run as if the person who clicked had typed it
(troupe.clicks): typing stays first-class, and the text fallback is the answer as typed.

    def panel(self, name):
        rows = [Row(f"*{light.name}*: {state}", [Button("Toggle", f"toggle {light.name} light")])]
        return Panel("lights", "Lights", rows, host=self.host.name, text=answer_text)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from troupe.text import escape

PANEL_BLOCK = "troupe_panel:"  # block_id prefix of a panel's first block: names the panel
REFRESH = "troupe:refresh"  # the value of a panel's Refresh button: render it again, run nothing
MAX_ROWS = 23  # 50 blocks a message: a title, two blocks a row, a footer
MAX_BUTTON_TEXT = 75  # Slack's limit on a button's label


@dataclass
class Button:
    """A button that runs `command` as if typed; `style` "primary" or "danger" (or None)."""

    label: str
    command: str
    style: str | None = None


@dataclass
class Row:
    """One device: a line of mrkdwn (already escaped where it echoes names) and its buttons."""

    text: str
    buttons: list[Button] = field(default_factory=list)


@dataclass
class Panel:
    name: str  # which panel this is: the plugin renders it again by this name
    title: str
    rows: list[Row]
    host: str  # the Pi that serves the panel: only its app gets the clicks
    text: str = ""  # the fallback: the answer as it reads without buttons
    note: str = ""  # a line under the rows (e.g. where a state comes from)
    refresh: bool = False  # a Refresh button by the title: the panel read again, in place

    def fallback(self) -> str:
        return self.text or "\n".join([f"{self.title}:", *(r.text for r in self.rows)])

    def blocks(self) -> list[dict[str, Any]]:
        """The panel in Block Kit: a title naming the Pi that serves it, a section and an
        actions block a row, and a footer saying that typing works too."""
        title = f"*{escape(self.title)}*  ·  served by {escape(self.host)}"
        blocks: list[dict[str, Any]] = [_section(title, f"{PANEL_BLOCK}{self.name}")]
        if self.refresh:
            blocks[0]["accessory"] = {"type": "button", "action_id": "refresh", "value": REFRESH,
                                      "text": {"type": "plain_text", "text": "Refresh"}}
        for n, row in enumerate(self.rows[:MAX_ROWS]):
            blocks.append(_section(row.text, f"{self.name}:row:{n}"))
            if row.buttons:
                blocks.append({"type": "actions", "block_id": f"{self.name}:buttons:{n}",
                               "elements": [_button(n, m, b) for m, b in enumerate(row.buttons)]})
        more = len(self.rows) - MAX_ROWS
        footer = [self.note] if self.note else []
        if more > 0:
            footer.append(f"{more} more not shown: type the command for the whole list.")
        footer.append(f"If a button fails, {escape(self.host)} is gone: ask again for a fresh "
                      "panel. Every button can be typed too.")
        blocks.append({"type": "context", "block_id": f"{self.name}:footer",
                       "elements": [{"type": "mrkdwn", "text": " ".join(footer)}]})
        return blocks


def _section(text: str, block_id: str) -> dict[str, Any]:
    return {"type": "section", "block_id": block_id,
            "text": {"type": "mrkdwn", "text": text[:3000]}}


def _button(row: int, n: int, button: Button) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": f"run:{row}:{n}",
        "text": {"type": "plain_text", "text": button.label[:MAX_BUTTON_TEXT]},
        "value": button.command[:2000],
    }
    if button.style in ("primary", "danger"):
        element["style"] = button.style
    return element


def panel_name(blocks: list[dict[str, Any]] | None) -> str | None:
    """The name of the panel these blocks show (from its first block), or None."""
    for block in blocks or []:
        block_id = str(block.get("block_id") or "")
        if block_id.startswith(PANEL_BLOCK):
            return block_id[len(PANEL_BLOCK):]
    return None
