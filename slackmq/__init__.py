"""slackmq: Slack pins as locks, so several bots can share work.

New API::

    from slackmq import SlackMQ
    mq = SlackMQ(WebClient(token=...), "C123", lease=30)
    with mq.claimed(ts) as claim:
        if claim.won:
            do_the_work()

Old API (0.1)::

    from slackmq import slackmq
    post = slackmq(token, channel, ts)
    if post.ack():
        do_the_work()
        post.unack()

The protocol and its limits: docs/slackmq.md. Depends on slack_sdk only.
"""

from .core import Claim, Holder, Markers, Sequence, SlackMQ, elect
from .errors import (
    RetryDeadlineExceeded,
    SlackMQAPIError,
    SlackMQAuthError,
    SlackMQConfigError,
    SlackMQError,
    SlackMQRateLimited,
    SlackMQTimeout,
    SlackMQUnavailable,
)
from .legacy import slackmq

__all__ = [
    "Claim",
    "Holder",
    "Markers",
    "RetryDeadlineExceeded",
    "Sequence",
    "SlackMQ",
    "SlackMQAPIError",
    "SlackMQAuthError",
    "SlackMQConfigError",
    "SlackMQError",
    "SlackMQRateLimited",
    "SlackMQTimeout",
    "SlackMQUnavailable",
    "elect",
    "slackmq",
]
__version__ = "0.2.0"
