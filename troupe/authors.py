"""Who a channel message counts as coming from, and whether they may command this house.

A person's message is theirs. A bot's message is a command only when it carries the
federation's command metadata with a valid proof that one of this house's Pis posted it
(troupe.federation); it counts as the person it was posted on behalf of, or as the
federation itself.
Authorization: the configured ``[auth] users``, or else any human member of the channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger("troupe.authors")

COMMAND_EVENT = "troupe_command"  # metadata event_type of commands the federation posts itself
FEDERATION = "(federation)"  # the author of commands a Pi posts on no one's behalf


class Authors:
    """Authorship and authorization in one channel; remembers who is a member and who is
    human (one Slack call each, at most)."""

    def __init__(self, web: WebClient, auth_users: list[str] | None,
                 verify: Callable[[dict[str, Any]], bool] | None = None):
        self.web = web
        self.verify = verify  # the federation's proof (troupe.federation.Roster.verified)
        self.auth_users = auth_users
        self.channel_id = ""
        self.bot_user_id = ""
        self._cache: dict[str, bool] = {}

    def serve(self, channel_id: str, bot_user_id: str) -> None:
        """The channel this Pi commands in and its own bot user, once it has connected."""
        self.channel_id, self.bot_user_id = channel_id, bot_user_id

    def author(self, message: dict[str, Any]) -> str | None:
        """The user a command counts as coming from, or None if it is not a command."""
        if message.get("bot_id") or message.get("subtype") == "bot_message":
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") != COMMAND_EVENT:
                return None  # answers, other bots and our own replies are never commands
            stored = self.command_message(message)
            if stored is None or self.verify is None or not self.verify(stored):
                return None  # not proven to come from one of this house's Pis
            payload = (stored.get("metadata") or {}).get("event_payload") or {}
            on_behalf_of = payload.get("on_behalf_of")
            # A federation command counts as its requester's; one from the configuration
            # (a configured schedule) as the posting Pi's own.
            return on_behalf_of if isinstance(on_behalf_of, str) and on_behalf_of else FEDERATION
        user = message.get("user")
        return user if isinstance(user, str) and user else None

    def command_message(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """A federation command with its full metadata (payload and proof), or None if it
        cannot be read.

        Slack's live message events carry only ``metadata.event_type``: the payload is
        dropped unless the app declares the type. A command that arrived live is read again,
        once, with ``include_all_metadata`` (only messages whose event_type says they are
        the federation's reach here). History already carries the payload.
        """
        metadata = message.get("metadata") or {}
        if isinstance(metadata.get("event_payload"), dict):
            return message
        try:
            return read_message(self.web, self.channel_id, message)  # None: deleted meanwhile
        except SlackApiError as e:
            log.warning("could not read the metadata of federation command %s (%s); ignored",
                        message.get("ts"), e.response.get("error"))
            return None

    def authorized(self, user: str) -> bool:
        """Whether `user` (an author from `author`) may command this house."""
        if user == FEDERATION:
            return True
        if user in (self.auth_users or []):
            return True
        if self.auth_users:
            return user == self.bot_user_id
        return self.is_member(user) and (self._is_human(user) or user == self.bot_user_id)

    def is_member(self, user: str) -> bool:
        if user not in self._cache:
            self._cache.update({m: True for m in self.channel_members()})
        return self._cache.setdefault(user, False)

    def channel_members(self) -> list[str]:
        """The user IDs of everyone in the channel, people and bots."""
        members, cursor = [], None
        while True:
            page = self.web.conversations_members(channel=self.channel_id, limit=500,
                                                  cursor=cursor)
            members += page.get("members", [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return members

    def bot_names(self) -> list[str]:
        """The names of the bots in the channel (the Pis of this federation), sorted."""
        names = []
        for user in self.channel_members():
            try:
                info = self.web.users_info(user=user)["user"]
            except SlackApiError:
                continue
            if info.get("is_bot"):
                names.append(info.get("name") or user)
        return sorted(names)

    def _is_human(self, user: str) -> bool:
        key = f"human:{user}"
        if key not in self._cache:
            try:
                info = self.web.users_info(user=user)["user"]
                self._cache[key] = not info.get("is_bot") and not info.get("deleted")
            except SlackApiError:
                self._cache[key] = False
        return self._cache[key]


def read_message(web: WebClient, channel: str, message: dict[str, Any]) -> dict[str, Any] | None:
    """``message`` as history holds it, with its full metadata (one call): from its thread
    if it is a reply, else from the channel's history."""
    ts, thread_ts = message.get("ts"), message.get("thread_ts")
    if thread_ts and thread_ts != ts:
        page = web.conversations_replies(channel=channel, ts=thread_ts, oldest=ts, latest=ts,
                                         inclusive=True, limit=2, include_all_metadata=True)
    else:
        page = web.conversations_history(channel=channel, latest=ts, inclusive=True, limit=1,
                                         include_all_metadata=True)
    return next((m for m in page.get("messages", []) if m.get("ts") == ts), None)
