"""A scene's progress, kept in Slack: the metadata of its answer, and the answer's text.

One character per step of the flattened scene (nested scenes inline), in order:

    "."  not started             "r"  running: started, not known to have finished
    "d"  done                    "f"  failed (why: the reason, by step number)
    "s"  sent to another Pi (its GPIO relay): done once that Pi marks its message so
    "p"  posted for every Pi (a broadcast, a sequential command): counted as done
    "i"  interrupted: it was running when the scene's Pi stopped answering, and it is
         not idempotent, so it is reported rather than run again
    "-"  not this run's (a part runs only the steps sent to its Pi)

The answer is edited as the scene progresses; a Pi that takes the scene over reads
the newest record from the thread and goes on from there (see `runner.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KEY = "scene"  # the field of the answer's metadata payload that holds the record
SETTLED = "dfi"


@dataclass
class Progress:
    name: str
    state: list[str]
    why: dict[int, str] = field(default_factory=dict)
    sent: dict[str, list[int]] = field(default_factory=dict)  # message text -> step indexes
    by: str = ""  # the Pi that wrote this record
    taken_from: str = ""  # the Pi whose record this run went on from, after a takeover

    def count(self, marks: str) -> int:
        return sum(1 for c in self.state if c in marks)

    @property
    def total(self) -> int:
        return sum(1 for c in self.state if c != "-")

    def payload(self) -> dict[str, Any]:
        return {KEY: {"name": self.name, "state": "".join(self.state),
                      "why": {str(k): v for k, v in self.why.items()},
                      "sent": self.sent, "by": self.by}}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Progress | None:
        record = payload.get(KEY)
        if not isinstance(record, dict) or not isinstance(record.get("state"), str):
            return None
        try:
            why = {int(k): str(v) for k, v in (record.get("why") or {}).items()}
            sent = {str(k): [int(i) for i in v] for k, v in (record.get("sent") or {}).items()}
        except (TypeError, ValueError, AttributeError):
            return None
        return cls(str(record.get("name", "")), list(record["state"]), why, sent,
                   str(record.get("by", "")))

    def text(self, label: str, steps: list[str], seconds: float | None,
             waiting: dict[str, list[int]] | None = None) -> str:
        """`Goodnight: 12 of 12 done in 0.4 s`, then a line per step that did not go well."""
        done = self.count("dp")
        head = f"{label}: {done} of {self.total} done"
        if self.taken_from:
            head += f" (went on after {self.taken_from} stopped answering)"
        head += f" in {seconds:.1f} s" if seconds is not None else "…"
        lines = [head]
        for i, c in enumerate(self.state):
            if c == "f":
                lines.append(f"- failed: `{steps[i]}`: {self.why.get(i, 'no reason given')}")
            elif c == "i":
                lines.append(f"- interrupted: `{steps[i]}` was running when "
                             f"{self.why.get(i, 'its Pi')} stopped answering; it may or may not "
                             "have happened, so it was not run again")
        for host, indexes in (waiting or {}).items():
            lines.append(f"- no word yet from {host} about "
                         + ", ".join(f"`{steps[i]}`" for i in indexes))
        return "\n".join(lines)
