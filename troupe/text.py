"""Slack text in and out: escaping, mentions, and keeping tokens out of logs."""

from __future__ import annotations

import logging
import re

from troupe.secrets import redact

__all__ = ["escape", "unescape", "command_text", "redact", "RedactingFilter"]

_MENTION = re.compile(r"^\s*<@[UW][A-Z0-9]+(\|[^>]*)?>:?\s*")


def escape(text: str) -> str:
    """Escape text for Slack so user input cannot mention anyone or fake a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo Slack's escaping of a message's text (Slack escapes &, < and > it receives)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


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
