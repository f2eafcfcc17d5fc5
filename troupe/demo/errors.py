"""The demo's one error: raised by the household side, answered by the web side."""

from __future__ import annotations


class DemoError(Exception):
    """A request the demo cannot carry out; the message says why (HTTP 400 or `status`)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
