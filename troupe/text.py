"""Slack text in and out: escaping, mentions, and keeping tokens out of logs."""

from __future__ import annotations

import logging
import re

_MENTION = re.compile(r"^\s*<@[UW][A-Z0-9]+(\|[^>]*)?>:?\s*")
_TOKEN = re.compile(r"xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+")


def escape(text: str) -> str:
    """Escape text for Slack so user input cannot mention anyone or fake a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo Slack's escaping of a message's text (Slack escapes &, < and > it receives)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def command_text(text: str) -> str:
    """The command in a message: unescaped, a leading @mention of the bot removed."""
    return _MENTION.sub("", unescape(text or "")).strip()


def redact(text: str) -> str:
    return _TOKEN.sub("xox?-<redacted>", text)


class RedactingFilter(logging.Filter):
    """Replace anything that looks like a Slack token in a log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
