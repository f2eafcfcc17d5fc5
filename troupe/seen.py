"""Which messages this Pi has already read: a duplicated delivery runs once."""

from __future__ import annotations

import threading
from collections import OrderedDict


class SeenMessages:
    """Remembers recent message timestamps so a duplicated delivery runs once."""

    def __init__(self, size: int = 5000):
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            if len(self._seen) > self._size:
                self._seen.popitem(last=False)
            return True
