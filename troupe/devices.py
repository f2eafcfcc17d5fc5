"""The latest command this Pi has seen on each device: a takeover's re-run must not undo it.

An idempotent command whose holder went silent is run again by a taker (issue 19 case 4).
If a newer command on the same device came in meanwhile (`switch dining off` after a
`switch dining on` whose Hue call hung), re-running the older one would undo the newer
one: the taker reports it instead. A device is what the plugin's `device_of(spec, args)`
names (as troupe.lanes uses it); "newer" is a later message ts, as seen live or on
catch-up from history by this Pi (every Pi that can run a device's commands sees them).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

KEEP = 5000  # devices remembered (the oldest forgotten first)


def device_of(plugin: Any, spec: Any, args: dict[str, Any]) -> str | None:
    """The device a command acts on, by its plugin's `device_of` (None: none or unknown)."""
    find = getattr(plugin, "device_of", None)
    return find(spec, args) if find is not None else None


class LatestByDevice:
    def __init__(self) -> None:
        self._latest: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def note(self, device: str | None, ts: str) -> Callable[[], bool]:
        """Record a command on `device` at `ts`; returns "has a newer one come since?"."""
        if not device:
            return lambda: False
        at = float(ts)
        with self._lock:
            if at > self._latest.get(device, 0.0):
                self._latest[device] = at
                self._latest.move_to_end(device)
                while len(self._latest) > KEEP:
                    self._latest.popitem(last=False)
        return lambda: self.newer(device, at)

    def newer(self, device: str, at: float) -> bool:
        with self._lock:
            return self._latest.get(device, 0.0) > at
