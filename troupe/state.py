"""What a Pi remembers across restarts: the settings given to it from chat.

`target pi-2` and `debug on` are broadcast commands; each Pi keeps what it was
told in one small JSON file of its own, written atomically, so that a Pi that
restarts (a crash, a power cut, every Pi in a rolling update) still routes and
answers as the household last said. A file that cannot be read or written costs
the memory, never the command: the Pi logs what is wrong and goes on.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from troupe.files import write_atomic

log = logging.getLogger("troupe.state")

# What may be remembered, and the type each value must have when read back.
KEYS: dict[str, tuple[type, ...]] = {"target": (str, type(None)), "debug": (bool,)}


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """systemd's StateDirectory= (the unit in deploy/ sets it), else the XDG state home."""
    env = os.environ if env is None else env
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    xdg = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local"
                                           / "state")
    return Path(xdg) / "troupe"


class HostState:
    """One host's remembered settings, in `<state_dir>/<host>.json`."""

    def __init__(self, state_dir: str | os.PathLike[str], host: str) -> None:
        self.path = Path(state_dir) / f"{host}.json"
        self.values: dict[str, Any] = self._load()

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning("cannot read %s (%s); starting with no remembered settings",
                        self.path, e)
            return {}
        if not isinstance(data, dict):
            log.warning("%s is not a JSON object; ignoring it", self.path)
            return {}
        values = {}
        for key, value in data.items():
            if key in KEYS and isinstance(value, KEYS[key]):
                values[key] = value
            else:
                log.warning("%s: ignoring %s = %r (expected one of: %s)", self.path, key,
                            value, ", ".join(KEYS))
        return values

    def remember(self, **values: Any) -> str | None:
        """Keep `values` (in memory at once, on disk atomically); None, or why the disk
        write failed (the setting then lasts until this process ends)."""
        unknown = [k for k in values if k not in KEYS]
        if unknown:
            raise ValueError(f"cannot remember {', '.join(unknown)}; known: {', '.join(KEYS)}")
        self.values.update(values)
        text = json.dumps(self.values, indent=1, sort_keys=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, text)
        except OSError as e:
            why = f"cannot write {self.path}: {e.strerror or e}"
            log.warning("%s; the setting lasts until this process ends", why)
            return why
        return None
