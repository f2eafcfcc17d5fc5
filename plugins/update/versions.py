"""`version`: one answer for the house, a line per Pi, from the Pis' boards.

Each Pi's update plugin puts `release` (what it runs) and `previous_release` (what
`rollback` would go back to) on its board when it starts; a switch restarts the Pi,
so the board follows every update. The Pi that answers reads the others' boards once
(troupe.federation's Roster.boards) instead of every Pi posting its own answer. The
answer is escaped where it is posted (Context.reply).
"""

from __future__ import annotations

from typing import Any


def _line(name: str, fields: dict[str, Any]) -> str:
    release = fields.get("release")
    if not release:
        version = fields.get("version")
        known = f"Troupe {version}, " if version else ""
        return f"- {name}: {known}no release on its board (no update plugin?)"
    previous = fields.get("previous_release")
    return f"- {name}: {release}" + (f"; previous {previous}" if previous else "")


def versions_answer(me: str, mine: dict[str, Any], members: list[str],
                    boards: dict[str, dict[str, Any]]) -> str:
    """The answer: this Pi's line from what it runs (`mine`), the others' from `boards`;
    a Pi of the house (`members`) with no board found is named as such."""
    lines = []
    for name in sorted(set(members) | set(boards) | {me}):
        board = boards.get(name)
        lines.append(_line(name, mine) + " (answering)" if name == me
                     else _line(name, board) if board is not None
                     else f"- {name}: no board found (known from its messages)")
    return (f"Versions: {len(lines)} Pi{'s' * (len(lines) != 1)} of this house, from their "
            "boards:\n" + "\n".join(lines))
