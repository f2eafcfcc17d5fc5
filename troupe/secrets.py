"""Secrets kept in: tokens and URL credentials masked in text, and off child processes.

Used wherever text may reach a person, a log or a file: ``troupe check``'s
problems, the log filter (messages and tracebacks), release markers and
errors. Recognised by shape, not by key, so a misspelt key or a token pasted
in the wrong place is masked all the same.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

# Slack tokens: xoxb- (bot), xoxp- (user), xoxa-/xoxr-/xoxs-/xoxo- (older kinds),
# xoxe.xoxp-/xoxe- (rotating and refresh tokens), xapp- (app-level, Socket Mode).
TOKEN_RE = re.compile(r"xox[a-z](?:\.xox[a-z])?-[A-Za-z0-9][A-Za-z0-9.-]*"
                      r"|xapp-[A-Za-z0-9][A-Za-z0-9-]*")
# scheme://user[:password]@host : the part before "@" is a credential when it has a
# password, or on http(s), where a lone user name is usually an access token.
_URL_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)([^/\s@]+)@")

MASK = "<redacted>"
SLACK_TOKEN_VARS = ("TROUPE_SLACK_BOT_TOKEN", "TROUPE_SLACK_APP_TOKEN")


def _is_credential(scheme: str, userinfo: str) -> bool:
    return ":" in userinfo or scheme.lower().startswith(("http://", "https://"))


def strip_url_credentials(text: str) -> str:
    """``text`` with the credentials of every URL in it removed (``https://host/...``)."""
    return _URL_USERINFO.sub(
        lambda m: m.group(1) if _is_credential(m.group(1), m.group(2)) else m.group(0), text)


def redact(text: str) -> str:
    """``text`` with Slack tokens and URL credentials replaced by a mark that says so."""
    text = TOKEN_RE.sub(lambda m: m.group(0).split("-", 1)[0] + "-" + MASK, text)
    return _URL_USERINFO.sub(
        lambda m: (m.group(1) + MASK + "@") if _is_credential(m.group(1), m.group(2))
        else m.group(0), text)


def looks_secret(value: object) -> bool:
    """Whether ``value`` (or any string inside it) holds a token or a URL credential."""
    if isinstance(value, str):
        return redact(value) != value
    if isinstance(value, Mapping):
        return any(looks_secret(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(looks_secret(v) for v in value)
    return False


def mask(value: object) -> object:
    """``value`` with every string inside it redacted (same shape)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    if isinstance(value, tuple):
        return tuple(mask(v) for v in value)
    return value


def _is_slack_secret(name: str, value: str) -> bool:
    upper = name.upper()
    if upper in SLACK_TOKEN_VARS or upper == "TROUPE_FEDERATION_SECRET":
        return True
    if "SLACK" in upper and any(w in upper for w in ("TOKEN", "SECRET", "SIGNING")):
        return True
    return bool(TOKEN_RE.search(value))


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process (git, pip, a health check): no Slack secrets.

    Drops ``TROUPE_SLACK_BOT_TOKEN``/``TROUPE_SLACK_APP_TOKEN``, any ``*SLACK*TOKEN*``
    or ``*SLACK*SECRET*`` variable and any variable whose value holds a Slack token.
    """
    base = os.environ if base is None else base
    return {k: v for k, v in base.items() if not _is_slack_secret(k, v)}
