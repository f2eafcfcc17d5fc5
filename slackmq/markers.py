"""Outcome markers: the reactions that record how a claimed message's work ended.

A marker is added before the pin is removed, so a late claimer that wins the
pin can tell the work already ran (docs/slackmq.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Markers:
    """Reaction names that record an outcome. Set your own to share a channel."""

    done: str = "white_check_mark"
    failed: str = "x"
    interrupted: str = "warning"
    declined: str = "grey_question"  # answered, nothing run (an unknown or refused command)

    def names(self) -> dict[str, str]:
        """Map reaction name -> outcome, strongest first."""
        return {self.done: "done", self.failed: "failed", self.interrupted: "interrupted",
                self.declined: "declined"}

    def outcome_of(self, reactions: list[dict[str, Any]], user: str | None = None) -> str | None:
        """The outcome recorded by ``reactions`` (by ``user`` only, if given), or None."""
        present = {
            r.get("name"): r.get("users", [])
            for r in reactions
            if user is None or user in r.get("users", [])
        }
        for name, outcome in self.names().items():
            if name in present:
                return outcome
        return None
