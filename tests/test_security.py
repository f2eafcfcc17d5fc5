"""Secrets stay in (issue 12, items 5 and 6): masking by shape, logs and tracebacks,
child environments, `troupe check`'s masking and its warnings, [auth] admins."""

from __future__ import annotations

import io
import logging

import pytest

from troupe.secrets import child_env, looks_secret, mask, redact, strip_url_credentials
from troupe.text import RedactingFilter

TOKENS = [
    "xoxb-1234-5678-abcdEFGH", "xoxp-1-2-3-abc", "xoxa-2-abc", "xoxe.xoxp-1-Mi0yLTE",
    "xoxe-1-My0xLTEy", "xoxr-abc", "xapp-1-A0123-456-abcdef",
]


@pytest.mark.parametrize("token", TOKENS)
def test_every_kind_of_slack_token_is_masked(token):
    text = f"bot-token = {token!r}, then more"
    out = redact(text)
    assert token not in out and "<redacted>" in out and out.endswith("', then more")
    assert looks_secret(text)


def test_url_credentials_are_masked_and_stripped():
    url = "https://bob:s3cret@git.example.org/troupe.git"
    assert redact(f"fetch {url} failed") == (
        "fetch https://<redacted>@git.example.org/troupe.git failed")
    assert strip_url_credentials(url) == "https://git.example.org/troupe.git"
    # a bare user on https is usually an access token
    assert strip_url_credentials("https://ghp_abc123@github.com/x.git") == "https://github.com/x.git"
    # ssh://git@host names a user, no secret: left alone
    assert strip_url_credentials("ssh://git@github.com/x.git") == "ssh://git@github.com/x.git"
    assert not looks_secret("https://github.com/x.git")
    assert not looks_secret("a token starting with xoxb- (or set TROUPE_SLACK_BOT_TOKEN)")
    assert mask({"a": ["xoxb-1-2", 3]}) == {"a": ["xoxb-<redacted>", 3]}


def test_child_env_has_no_slack_secrets():
    base = {"PATH": "/usr/bin", "HOME": "/var/lib/troupe",
            "TROUPE_SLACK_BOT_TOKEN": "xoxb-1", "TROUPE_SLACK_APP_TOKEN": "xapp-1",
            "SLACK_BOT_TOKEN": "xoxb-2", "SLACK_SIGNING_SECRET": "abc",
            "MY_OTHER": "has xoxp-3-4 inside", "SLACK_CHANNEL": "home"}
    assert child_env(base) == {"PATH": "/usr/bin", "HOME": "/var/lib/troupe",
                               "SLACK_CHANNEL": "home"}


def _log_through_filter(emit) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("test_security.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        emit(log)
    finally:
        log.removeHandler(handler)
    return stream.getvalue()


def test_log_messages_and_tracebacks_are_redacted():
    token, url = "xoxb-1111-2222-secretpart", "https://bob:pw123@host.example/x.git"

    def emit(log):
        log.warning("connecting with %s to %s", token, url)
        try:
            raise RuntimeError(f"Slack said no to {token} at {url}")
        except RuntimeError:
            log.exception("failed")

    out = _log_through_filter(emit)
    assert "Traceback" in out and "RuntimeError: Slack said no to xoxb-<redacted>" in out
    assert "secretpart" not in out and "pw123" not in out
    assert out.count("https://<redacted>@host.example/x.git") == 2
