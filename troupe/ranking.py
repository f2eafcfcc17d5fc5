"""Who claims a message first: the Pis' agreed order, and the window each waits.

Preferred claims (`[troupe] preferred_claims`, on by default): the Pis order each
message by rendezvous hashing of its ts over the channel's bots; the k-th claims only
after min(k, IN_LINE) windows with no pin seen for it, so a command costs one pins.add
instead of one per Pi. Used by troupe.guard (claims) and troupe.core (who answers).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger("troupe.guard")

PREFERRED_ENV = "TROUPE_PREFERRED_CLAIMS"  # overrides [troupe] preferred_claims when set
PREFERRED_WINDOW = 0.5  # s; must exceed pins.add + the pin_added event reaching the others
MEMBERS_TTL = 600.0  # re-read the channel's bots this often
SUSPECT_FOR = 600.0  # a Pi that did not claim when it was first in line is skipped this long
IN_LINE = 2  # the k-th Pi waits min(k, IN_LINE) windows: the 3rd and later claim together

def preferred_window(value: str | None = None, configured: float = 0.0) -> float:
    """The window of preferred claims (0: off): `TROUPE_PREFERRED_CLAIMS` (or `value`) if
    set, else `configured` (from `[troupe] preferred_claims` / `preferred_window`)."""
    value = (os.environ.get(PREFERRED_ENV, "") if value is None else value).strip().lower()
    if not value:
        return configured
    if value in ("0", "false", "off", "no"):
        return 0.0
    if value in ("1", "true", "on", "yes"):
        return PREFERRED_WINDOW
    try:
        return max(0.0, float(value))
    except ValueError:
        log.warning("%s=%r is not a number of seconds; preferred claims stay off",
                    PREFERRED_ENV, value)
        return 0.0


class Ranking:
    """Who claims a message first: rendezvous hashing of its ts over the channel's bots.

    Every Pi computes the same order from the same members, with no calls per
    message (the member list is read once per MEMBERS_TTL). A Pi that was first in
    line and did not claim is suspected (dead, or not a Troupe bot) and skipped for
    a while, so one dead Pi does not delay every command it would be first for.
    Pis that disagree about the order only cost an extra pins.add: the pin decides.
    """

    def __init__(self, client, channel: str, me: Callable[[], str],
                 members: Callable[[], list[str]] | None = None):  # the Pis (troupe.federation)
        self.client, self.channel, self._me, self._given = client, channel, me, members
        self._members: list[str] = []
        self._read_at = float("-inf")
        self._is_bot: dict[str, bool] = {}
        self._suspects: dict[str, float] = {}
        self._away: dict[str, tuple[str, float]] = {}  # sequence ts -> (whose turn, until)
        self._lock = threading.Lock()

    def order(self, ts: str, suspects: bool = False) -> list[str]:
        """The Pis in the order they claim `ts` (this Pi always included; suspects only
        if asked)."""
        me, now = self._me(), time.time()
        with self._lock:
            away = set() if suspects else {u for u, until in self._away.values() if until > now}
            pis = {u for u in self._bots()
                   if suspects or self._suspects.get(u, 0.0) <= now} | {me}

        def weight(user: str) -> bytes:
            return hashlib.blake2b(f"{ts}|{user}".encode(), digest_size=8).digest()

        ranked = sorted(pis, key=weight, reverse=True)
        # A Pi in its turn of a sequence steps out of line: the others skip it, and it
        # claims last itself.
        return [u for u in ranked if u not in away] + [me] * (me in away)

    def suspect(self, users: list[str]) -> None:
        with self._lock:
            for user in users:
                self._suspects[user] = time.time() + SUSPECT_FOR

    def alive(self, user: str) -> None:
        with self._lock:
            self._suspects.pop(user, None)

    def away(self, user: str, ts: str) -> None:
        """`user` took its turn of the sequence at `ts`: skip it until the turn ends (or
        SUSPECT_FOR passes, should this Pi miss the pin's removal)."""
        with self._lock:
            self._away[ts] = (user, time.time() + SUSPECT_FOR)

    def back(self, ts: str) -> None:
        """The turn at `ts` ended (its pin was removed)."""
        with self._lock:
            self._away.pop(ts, None)

    def seen_ahead(self, ts: str) -> None:
        """This Pi lost `ts` though it was first among the Pis it trusts: a suspect ranked
        before it is alive after all."""
        me, everyone = self._me(), self.order(ts, suspects=True)
        with self._lock:
            for user in everyone[:everyone.index(me)]:
                self._suspects.pop(user, None)

    def _bots(self) -> list[str]:
        if self._given is not None:
            return self._given()
        if time.monotonic() - self._read_at < MEMBERS_TTL:
            return self._members
        members, cursor = [], None
        while True:
            page = self.client.conversations_members(channel=self.channel, limit=500,
                                                     cursor=cursor)
            members += page.get("members", [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        for user in members:
            if user not in self._is_bot:
                info = self.client.users_info(user=user)["user"]
                self._is_bot[user] = bool(info.get("is_bot")) and not info.get("deleted")
        self._members = [u for u in members if self._is_bot[u]]
        self._read_at = time.monotonic()
        return self._members
