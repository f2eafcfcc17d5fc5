"""Slack text in and out: escaping, mentions, and keeping tokens out of logs."""

from __future__ import annotations

import logging
import re

from troupe.secrets import redact

__all__ = ["escape", "unescape", "command_text", "excerpt", "fit", "redact", "RedactingFilter",
           "ANSWER_LIMIT"]

# Slack cuts a message's text at 40,000 characters and refuses longer (msg_too_long); an
# answer stays far below, whatever a handler or a person's text put in it.
ANSWER_LIMIT = 12_000
EXCERPT = 60  # characters of a person's text quoted back (`I don't know ...`) or logged

_MENTION = re.compile(r"^\s*<@[UW][A-Z0-9]+(\|[^>]*)?>:?\s*")


def escape(text: str) -> str:
    """Escape text for Slack so user input cannot mention anyone or fake a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo Slack's escaping of a message's text (Slack escapes &, < and > it receives)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """A short quote of a person's text for an answer or a log line: one line, backticks
    neutralised (a quote sits inside `...`), cut at ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split()).replace("`", "'")
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "\u2026"


def fit(text: str, limit: int = ANSWER_LIMIT) -> str:
    """``text`` cut to ``limit`` characters once escaped, saying how much was left out."""
    if len(escape(text)) <= limit:
        return text
    room, end = limit - 80, 0
    while end < len(text) and room >= len(escape(text[end])):  # escaping lengthens & < >
        room -= len(escape(text[end]))
        end += 1
    cut = text[:end]
    return f"{cut}\n\u2026 (cut: {len(text) - len(cut):,} more characters)"


def command_text(text: str) -> str:
    """The command in a message: unescaped, a leading @mention of the bot removed."""
    return _MENTION.sub("", unescape(text or "")).strip()


class RedactingFilter(logging.Filter):
    """Mask Slack tokens and URL credentials in a log record: message, traceback, stack."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            # formatted here, once: the handler's formatter uses exc_text when it is set
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
