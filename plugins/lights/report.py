"""How `lights` puts one line per light in its answer."""

from __future__ import annotations


def line(name: str, state: str) -> str:
    """One light in an answer: `- porch: on (GPIO 17 on pi-2)`."""
    return f"- {name}: {state}"
