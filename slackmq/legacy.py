"""The slackmq 0.1 API, kept working on top of SlackMQ.

    from slackmq import slackmq
    post = slackmq(token, channel, ts)
    if post.ack():
        ...
        post.unack()

Differences from 0.1.2: ``ack()`` is False only when another worker holds the
message or the work already ran (any other failure raises a SlackMQError);
``unack()`` records a done marker before it unpins, and never sleeps.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from .core import Claim, SlackMQ
from .errors import SlackMQError

log = logging.getLogger("slackmq")


class slackmq:  # noqa: N801 - the 0.1 name
    """One message as a unit of work, the 0.1 way."""

    def __init__(
        self,
        api_token: str,
        channel: str,
        timestamp: str,
        *,
        base_url: str | None = None,
        client: WebClient | None = None,
        deadline: float = 20.0,
        lease: float = 30.0,
    ) -> None:
        self.api_token = api_token
        self.channel = channel
        self.timestamp = timestamp
        self.mq = SlackMQ(
            client, channel, token=api_token, base_url=base_url, deadline=deadline, lease=lease
        )
        self.claim: Claim | None = None

    def ack(self, emoji: str | None = None, stars: bool | None = None) -> bool:
        """Pin the message. True only when this caller pinned it (and it had not run yet).

        ``emoji`` adds that reaction and ``stars`` stars the message, as in 0.1.
        """
        self.claim = self.mq.claim(self.timestamp)
        if not self.claim.won:
            return False
        if stars is not None:
            self._star("stars.add")
        if emoji is not None:
            try:
                self.mq._call("reactions.add", name=emoji, timestamp=self.timestamp)
            except BaseException:
                self.claim.release()  # do not leave a pin behind for a failed decoration
                raise
        return True

    def _star(self, method: str) -> None:
        # Stars are decoration, retired by Slack and refused to bot tokens: best effort.
        try:
            self.mq._call(method, timestamp=self.timestamp)
        except SlackMQError as e:
            log.warning(
                "slackmq %s %s: %s (ignored: stars are decoration)", method, self.timestamp, e
            )

    def unack(self, emoji: str | None = None, stars: bool | None = None) -> bool:
        """Mark the work done, remove ``emoji`` / the star if given, and unpin.

        Returns False (and changes nothing) if this object does not hold the claim.
        """
        claim = self.claim
        if claim is None or not claim.won:
            return False
        mq = self.mq
        mq._call("reactions.add", name=mq.markers.done, timestamp=self.timestamp)
        claim.outcome = "done"
        if emoji is not None and emoji not in mq.markers.names():
            mq._call("reactions.remove", name=emoji, timestamp=self.timestamp)
        if stars is not None:
            self._star("stars.remove")
        claim.release()
        return True
