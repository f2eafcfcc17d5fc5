"""The Slack Web API client a Pi uses, and what Slack's errors mean.

A WebClient that waits out rate limits and retries connection errors and 5xx; which
errors at start are worth waiting out and which are a configuration Slack refuses.
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from troupe.config import Config

TRANSIENT_ERRORS = {"ratelimited", "service_unavailable", "fatal_error", "internal_error",
                    "request_timeout"}


class StartupError(Exception):
    """Slack refused this Pi's configuration: starting again will not help."""


def explain(error: str) -> str:
    """A Slack error code met while connecting, as advice for whoever set up this Pi."""
    hints = {
        "invalid_auth": "Slack refused the bot token (invalid_auth): check slack.bot_token",
        "not_authed": "no bot token was sent (not_authed): check slack.bot_token",
        "account_inactive": "the bot token belongs to a deleted app (account_inactive)",
        "token_revoked": "the bot token was revoked (token_revoked): reinstall the app",
        "missing_scope": "the app lacks a scope it needs (missing_scope): "
                         "create it from deploy/slack-app-manifest.yaml",
        "channel_not_found": "the channel in slack.channel does not exist or the bot cannot see it",
    }
    return hints.get(error, f"Slack refused to connect: {error}")


def why(e: Exception) -> str:
    """What went wrong, in a word: Slack's error code, or the exception's type."""
    if isinstance(e, SlackApiError):
        return str(e.response.get("error"))
    return type(e).__name__


def make_web_client(config: Config, retries: bool = True) -> WebClient:
    """A WebClient that waits out 429s and retries connection errors and 5xx.

    `retries=False`: the client for the lock (slackmq). A retry inside slack_sdk re-sends
    a call whose answer was lost (the pin made, the answer a 500) and hides it; slackmq
    retries itself and reads the pins after every unclear answer (docs/slackmq.md)."""
    kwargs = {"base_url": config.slack.api_url} if config.slack.api_url else {}
    handlers = [
        RateLimitErrorRetryHandler(max_retry_count=5),
        ConnectionErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=3),
    ] if retries else []
    return WebClient(token=config.slack.bot_token, timeout=15, retry_handlers=handlers,
                     **kwargs)
