"""SlackMQ: a Slack message is a unit of work; a pin on it is the lock.

The protocol, why it is safe and what it cannot promise are in docs/slackmq.md.
In short:

* claim    = ``pins.add`` (``already_pinned`` -> lost), then, only if the pin was
  ours, ``reactions.get``: an outcome marker there means the work already ran,
  so the claimer removes its pin and reports ``done`` without running it.
* finish   = ``reactions.add`` (the outcome marker) and only then ``pins.remove``.
* take over = a pin older than its lease with no outcome marker; would-be takers
  post a thread reply naming that pin and the earliest eligible reply about it
  (Slack orders ts) wins; the winner acts only if that pin is still there.
* sequence = each worker claims the pin in turn; its own reaction says it ran.

The parts, each importing only those before it: markers.py (outcome reactions),
channel.py (calls, pins, ``Holder``), claim.py, takeover.py (leases, takeovers,
sweep), sequence.py. This module puts them together as ``SlackMQ``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from . import takeover
from .channel import PIN_CLOCK_GRAIN, Channel, Holder
from .claim import Claim, Status, claim_message
from .election import TAKEOVER_TAG, elect
from .markers import Markers
from .sequence import Sequence

__all__ = [
    "PIN_CLOCK_GRAIN",
    "TAKEOVER_TAG",
    "Claim",
    "Holder",
    "Markers",
    "Sequence",
    "SlackMQ",
    "Status",
    "elect",
]


class SlackMQ(Channel):
    """Slack pins as locks for several bots sharing one channel.

    Pass a ``slack_sdk.WebClient`` (one Slack app per worker), or ``token=``
    and optionally ``base_url=`` and slackmq builds one. ``lease`` is how long a
    holder may be silent before another worker may take its claim over: a held
    claim renews itself every ``lease / 3`` (a heartbeat reply in the message's
    thread) for at most ``renew_for`` seconds (default 3 leases: work that hangs
    is taken over then); ``heartbeat=False`` turns that off. ``deadline`` bounds
    the retries of one Web API call.
    """

    # -- claims -------------------------------------------------------------

    def claim(self, ts: str) -> Claim:
        """Claim the message ``ts``: one ``pins.add``, plus ``reactions.get`` if won.

        In retain mode a won claim on a message younger than ``fresh`` skips the
        ``reactions.get``, and ``lost`` may also mean "already done".
        """
        return claim_message(self, ts)

    @contextlib.contextmanager
    def claimed(self, ts: str) -> Iterator[Claim]:
        """Claim; on normal exit mark done, on exception mark failed (and re-raise); release.

        Does nothing to the message unless the claim was won: check ``claim.won``.
        """
        claim = self.claim(ts)
        with claim:
            yield claim

    def resumable(self, ts: str) -> bool:
        """Whether this worker pinned ``ts`` but could not read its markers (an outage):
        ``claim(ts)`` then goes on from that pin, within the lease, without ``pins.add``."""
        with self._lock:
            return ts in self._unchecked

    # -- leases -------------------------------------------------------------

    def stale(self, ts: str) -> Holder | None:
        """The holder of ``ts`` if its pin is older than the lease and has no outcome marker."""
        return takeover.stale(self, ts)

    def stale_claims(self) -> list[Holder]:
        """Every pin in the channel older than the lease with no outcome marker (one call).

        Uses the reactions ``pins.list`` returns; ``take_over`` re-reads them anyway.
        """
        return takeover.stale_claims(self)

    def sweep(self) -> list[str]:
        """Unpin finished messages left pinned: those with an outcome marker whose pin is
        older than the lease (a holder died between marker and unpin) or, in retain
        mode, whose message is older than ``retain``. Returns the ts unpinned.

        Call it now and then (a scheduler) in retain mode; it is safe from any worker.
        """
        return takeover.sweep(self)

    # -- take over ----------------------------------------------------------

    def take_over(self, ts: str, idempotent: bool) -> Claim:
        """Take over ``ts`` if its holder is gone (pin older than the lease, no outcome marker).

        Exactly one of the workers that try wins (``status == "won"``,
        ``taken_over`` True). The pin stays in place throughout, so fresh claimers
        still lose. If the work is not ``idempotent`` the winning claim has
        ``interrupted`` set: report it and record ``interrupted()``; do not
        re-run it. If there is no pin at all this is an ordinary ``claim``.
        A worker that finds its own pin (it restarted) need not wait for the lease.
        """
        return takeover.take_over(self, ts, idempotent)

    def sequence(self, ts: str) -> Sequence:
        """Use ``ts`` for a sequence: every worker runs once, one at a time."""
        return Sequence(self, ts)
