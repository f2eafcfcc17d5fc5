"""One Web API call with a deadline: retry what is transient, raise the rest.

slack_sdk's own retry handlers retry a fixed number of times with no overall
deadline, so slackmq drives the loop itself and borrows slack_sdk's backoff
calculator. The client must have no retry handlers of its own (``Channel`` uses
a copy without them): a retry inside slack_sdk hides that an attempt's answer
was lost, and the lock must see every unclear answer (docs/slackmq.md).

An answer is *unclear* when the call may have reached Slack without its answer
reaching us: a hang, a dropped connection, an HTTP 5xx. A 429, a refused
connection or a failed DNS lookup is clear: the call did not happen.
"""

from __future__ import annotations

import logging
import random
import socket
import time
from http.client import HTTPException
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import Jitter

from .clock import SlackClock
from .errors import (
    SlackMQAPIError,
    SlackMQAuthError,
    SlackMQConfigError,
    SlackMQError,
    SlackMQRateLimited,
    SlackMQTimeout,
    SlackMQUnavailable,
)

log = logging.getLogger("slackmq")

AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "ekm_access_denied",
        "not_allowed_token_type",
    }
)
CONFIG_ERRORS = frozenset(
    {
        "channel_not_found",
        "missing_scope",
        "not_in_channel",
        "is_archived",
        "message_not_found",
        "thread_not_found",
        "invalid_arguments",
        "invalid_arg_name",
        "invalid_name",
        "bad_timestamp",
        "unknown_method",
        "not_pinnable",
        "too_many_reactions",
        "too_many_emoji",
    }
)
TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)

# Errors that are a normal answer for one method: returned to the caller, not raised.
EXPECTED = {
    "pins.add": {"already_pinned"},
    "pins.remove": {"no_pin"},
    "reactions.add": {"already_reacted"},
    "reactions.remove": {"no_reaction"},
}


class _ProportionalJitter(Jitter):
    """slack_sdk's RandomJitter adds up to a whole second; this spreads +-50 % instead."""

    def recalculate(self, duration: float) -> float:
        return duration * (0.5 + random.random())


UNCLEAR = "slackmq_unclear_answer"  # the error of an unclear answer not re-sent (see __call__)

_backoff = BackoffRetryIntervalCalculator(backoff_factor=0.05, jitter=_ProportionalJitter())
MAX_BACKOFF = 2.0


class Caller:
    """Calls ``client.api_call`` until it succeeds, fails for good, or the deadline passes."""

    def __init__(
        self, client: WebClient, deadline: float, name: str = "", clock: SlackClock | None = None
    ) -> None:
        self.client = client
        self.deadline = deadline
        self.name = name
        self.clock = clock or SlackClock()
        self.calls = 0  # round trips attempted, for the benchmark and the tests

    def __call__(
        self, method: str, *, resend_unclear: bool = True, **params: Any
    ) -> tuple[dict[str, Any], bool]:
        """Return ``(data, ambiguous)``.

        ``data`` is the response body (``ok`` may be False only for an error in
        ``EXPECTED[method]``). ``ambiguous`` is True when an attempt's answer was
        unclear (it may have reached Slack), so an ``already_pinned`` may be our
        own pin. With ``resend_unclear`` False the first unclear answer is returned
        at once as ``({"ok": False, "error": UNCLEAR}, True)``: the caller reads
        the state before deciding whether to send the call again.
        """
        end = time.monotonic() + self.deadline
        attempt = 0
        ambiguous = False
        last: str = ""
        kind: type[SlackMQError] = SlackMQUnavailable
        while True:
            attempt += 1
            self.calls += 1
            wait: float | None = None
            unclear = False
            sent = self.clock.local()
            try:
                resp = self.client.api_call(method, json=params)
                self.clock.sample(resp.headers, sent, self.clock.local())
                return dict(resp.data), ambiguous  # type: ignore[arg-type]
            except SlackApiError as e:
                self.clock.sample(e.response.headers, sent, self.clock.local())
                status = getattr(e.response, "status_code", 200)
                data = e.response.data if isinstance(e.response.data, dict) else {}
                error = str(data.get("error", "")) or f"http_{status}"
                if error in EXPECTED.get(method, ()) and status < 400:
                    return dict(data), ambiguous
                if status == 429 or error == "ratelimited":
                    headers = e.response.headers or {}
                    ra = headers.get("Retry-After") or headers.get("retry-after") or "1"
                    try:
                        wait = float(ra[0] if isinstance(ra, list) else ra)
                    except ValueError:
                        wait = 1.0
                    kind, last = SlackMQRateLimited, f"rate limited (Retry-After {wait:g}s)"
                elif status >= 500 or error in TRANSIENT_ERRORS:
                    unclear = True
                    kind, last = SlackMQUnavailable, f"HTTP {status} {error}"
                elif error in AUTH_ERRORS:
                    raise SlackMQAuthError(
                        f"{method}: {error} - check the token", method=method, error=error
                    ) from None
                elif error in CONFIG_ERRORS:
                    raise SlackMQConfigError(
                        f"{method}: {error} - check the channel, scopes and message",
                        method=method,
                        error=error,
                    ) from None
                else:
                    raise SlackMQAPIError(
                        f"{method}: {error}", method=method, error=error
                    ) from None
            except TimeoutError as e:
                unclear = True
                kind, last = SlackMQTimeout, f"no answer within {self.client.timeout}s ({e})"
            except URLError as e:
                if isinstance(e.reason, TimeoutError):
                    unclear = True
                    kind, last = SlackMQTimeout, f"no answer within {self.client.timeout}s"
                else:
                    unclear = not _never_sent(e.reason)
                    kind, last = SlackMQUnavailable, f"connection error: {e.reason}"
            except (ConnectionError, HTTPException, OSError) as e:
                unclear = not _never_sent(e)
                kind, last = SlackMQUnavailable, f"connection error: {e!r}"
            if unclear:
                ambiguous = True
                if not resend_unclear:
                    log.info("%s %s: %s; reading the state before sending it again",
                             self.name, method, last)
                    return {"ok": False, "error": UNCLEAR, "detail": last}, True
            if wait is None:
                wait = min(MAX_BACKOFF, _backoff.calculate_sleep_duration(attempt - 1))
            left = end - time.monotonic()
            if wait >= left:
                raise kind(
                    f"{method}: gave up after {attempt} attempt(s) in {self.deadline:g}s: {last}",
                    method=method,
                    error=last,
                )
            log.info("%s %s: %s; retrying in %.2fs", self.name, method, last, wait)
            time.sleep(wait)  # backoff on failure only; never on the success path


def _never_sent(reason: object) -> bool:
    """A refused connection or a failed name lookup: the request never reached Slack."""
    return isinstance(reason, (ConnectionRefusedError, socket.gaierror))
