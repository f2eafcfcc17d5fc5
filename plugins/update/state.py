"""What this Pi runs, and what it was doing when it restarted.

The release a process runs is fixed when it starts: the `current` link may be
switched under a running process, so the answer comes from where this module
was imported (`releases/<version>/venv/...` once resolved), not from the link.

The state file (`<root>/update-state.json`, written atomically) carries one
step across the restart: which post, which op, from and to which release,
when it started, and the phase:

- ``switched``: the links moved and this Pi restarted (or is about to); the
  next process to start reports where it came back;
- ``reported``: that report is in the thread; nothing pending;
- ``canary``: reported as the canary, waiting for a :+1: or :-1:.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import troupe
from troupe.files import write_atomic

STATE_FILE = "update-state.json"
_LOADED_FROM = Path(__file__).resolve()


def running_release(root: Path) -> str | None:
    """The release under `root` this process was started from, or None (a source tree)."""
    try:
        rel = _LOADED_FROM.relative_to(Path(root).resolve() / "releases")
    except (ValueError, OSError):
        return None
    return rel.parts[0] if rel.parts else None


def running_label(root: Path) -> str:
    """The release this process runs, for answers: `v2`, or `0.1.0 (not a release)`."""
    return running_release(root) or f"{troupe.__version__} (not a release)"


def running_version(root: Path) -> str:
    """What an update's summary says a Pi came from: its release (`v1`), or outside one the
    installed version (`0.1.0`), so the summary reads `0.1.0 → v0.2.0`."""
    return running_release(root) or troupe.__version__


@dataclass
class Step:
    """One Pi's step of a rollout, kept across its restart."""

    op: str  # "update" | "rollback" | "canary-rollback"
    ts: str  # the command's post
    thread: str  # the thread answers go to
    target: str
    previous: str
    started_at: float = field(default_factory=time.time)
    switched_at: float = 0.0
    phase: str = "switched"
    canary: bool = False
    reason: str = ""  # why it came back on `previous` (set by the watchdog)
    report_ts: str = ""  # the canary's report, where the :+1: goes

    def took(self) -> float:
        return time.time() - self.started_at


def load(root: Path) -> Step | None:
    try:
        data = json.loads((Path(root) / STATE_FILE).read_text())
        return Step(**data)
    except (OSError, ValueError, TypeError):
        return None


def save(root: Path, step: Step) -> None:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    write_atomic(root / STATE_FILE, json.dumps(asdict(step)))
