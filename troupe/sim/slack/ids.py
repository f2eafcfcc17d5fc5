"""Slack-shaped identifiers and message timestamps."""

from __future__ import annotations

import itertools
import secrets
import string
import time

_ALPHABET = string.ascii_uppercase + string.digits


class IdFactory:
    """Makes IDs like Slack's: a type letter, then upper-case letters and digits.

    Every ID gets ten characters after its prefix, so it satisfies the stricter
    patterns of Slack's schemas (``^[CGD][A-Z0-9]{8,}$`` and friends).
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def new(self, prefix: str, length: int = 10) -> str:
        while True:
            ident = prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))
            if ident not in self._seen:
                self._seen.add(ident)
                return ident


class TsClock:
    """Hands out message timestamps ("1700000000.000100"), strictly increasing."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> str:
        micros = max(int(time.time() * 1_000_000), self._last + 1)
        self._last = micros
        return format_ts(micros)


def format_ts(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def parse_ts(value: object) -> int | None:
    """Slack ts string -> integer microseconds, or None when it is not one."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(float(value) * 1_000_000)
    if not isinstance(value, str) or not value:
        return None
    whole, _, frac = value.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 6:
        return None
    return int(whole) * 1_000_000 + int((frac or "0").ljust(6, "0"))


_counter = itertools.count(1)


def token(prefix: str) -> str:
    """A token shaped like Slack's: xoxb-..., xoxp-..., xapp-..."""
    return f"{prefix}-{next(_counter)}-{secrets.token_hex(12)}"
