"""The Slack Web API client a Pi uses, and what Slack's errors mean.

A WebClient that paces its calls by method (troupe.pacing), waits out rate limits
and retries connection errors and 5xx; which errors at start are worth waiting out
and which are a configuration Slack refuses.
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
from troupe.pacing import Pacer, pacer_for

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


RATE_LIMIT_RETRIES = 30  # 429s despite pacing are rare: wait them out rather than drop a call


class PacedWebClient(WebClient):
    """A WebClient whose every call first takes its method's token from this app's Pacer
    (shared by every client with the same token), and tells the Pacer of each 429."""

    def __init__(self, *args, pacer: Pacer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pacer = pacer

    def api_call(self, api_method: str, **kwargs):  # type: ignore[override]
        self.pacer.acquire(api_method)
        try:
            response = super().api_call(api_method, **kwargs)
        except Exception as e:
            response_of = getattr(e, "response", None)
            if getattr(response_of, "status_code", 200) == 429:
                self.pacer.limited_by_slack(api_method, _retry_after(response_of.headers))
            if api_method == "pins.add" or (  # the claims in hand (troupe.pacing)
                    api_method == "pins.remove" and response_of is not None
                    and response_of.get("error") == "no_pin"):
                self.pacer.released()  # (an unclear pins.add: counted as not made)
            raise
        if api_method == "pins.remove":
            self.pacer.released()
        return response


class _PacedRateLimitHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, through the Pacer: it learns the Retry-After, and the retry
    (which does not pass through api_call again) waits for its token like any call."""

    def __init__(self, pacer: Pacer, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pacer = pacer

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:
        if response is None:
            raise error  # type: ignore[misc]  # as slack_sdk's own handler
        method = request.url.rstrip("/").rsplit("/", 1)[-1]
        self.pacer.limited_by_slack(method, _retry_after(response.headers))
        self.pacer.acquire(method)  # waits out the Retry-After, oldest command first
        state.next_attempt_requested = True
        state.increment_current_attempt()


def _retry_after(headers) -> float:
    headers = headers or {}
    value = headers.get("Retry-After") or headers.get("retry-after") or "1"
    try:
        return float(value[0] if isinstance(value, list) else value)
    except (TypeError, ValueError):
        return 1.0


def make_web_client(config: Config, retries: bool = True) -> WebClient:
    """A WebClient that waits out 429s and retries connection errors and 5xx.

    `retries=False`: the client for the lock (slackmq). A retry inside slack_sdk re-sends
    a call whose answer was lost (the pin made, the answer a 500) and hides it; slackmq
    retries itself and reads the pins after every unclear answer (docs/slackmq.md)."""
    kwargs = {"base_url": config.slack.api_url} if config.slack.api_url else {}
    pacer = pacer_for(config.slack.bot_token, config.lease,  # one per app, as Slack's limits
                      seeded=config.slack.rate_limits == "slack")
    handlers = [
        _PacedRateLimitHandler(pacer, max_retry_count=RATE_LIMIT_RETRIES),
        ConnectionErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=3),
    ] if retries else []
    return PacedWebClient(token=config.slack.bot_token, timeout=15, retry_handlers=handlers,
                          pacer=pacer, **kwargs)
