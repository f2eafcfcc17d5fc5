"""Exceptions raised by slackmq.

Only ``already_pinned`` means "someone else has it"; that is a normal result
(``Claim.status == "lost"``), never an exception. Everything else that stops a
call from succeeding ends in one of these, so no command is dropped silently.
"""

from __future__ import annotations


class SlackMQError(Exception):
    """Base class. ``method`` and ``error`` say which call failed and why."""

    def __init__(self, message: str, *, method: str = "", error: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.error = error


class SlackMQAuthError(SlackMQError):
    """The token is wrong, revoked or not allowed (invalid_auth, not_authed, ...)."""


class SlackMQConfigError(SlackMQError):
    """The channel, scope or message is wrong (channel_not_found, missing_scope, ...)."""


class SlackMQAPIError(SlackMQError):
    """Slack answered with an error slackmq does not know how to handle."""


class RetryDeadlineExceeded(SlackMQError):
    """A transient failure (5xx, 429, connection error, hang) lasted past the deadline."""


class SlackMQTimeout(RetryDeadlineExceeded):
    """The last attempt hung: no answer within the per-call timeout."""


class SlackMQUnavailable(RetryDeadlineExceeded):
    """Slack kept refusing: HTTP 5xx or connection errors until the deadline."""


class SlackMQRateLimited(RetryDeadlineExceeded):
    """Slack kept answering 429 / ratelimited and Retry-After went past the deadline."""
