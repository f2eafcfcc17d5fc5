"""Emoji names ``reactions.add`` accepts: Slack's standard set plus the workspace's own.

Slack answers ``invalid_name`` for a name that is neither a standard emoji nor
one the workspace added. The standard names come from the ``emoji`` package's
English names and aliases (GitHub/Slack style: ``white_check_mark``, ``+1``,
``thumbsup``); Slack spells a few differently, added below. A skin tone may
follow a name (``+1::skin-tone-3``).
"""

from __future__ import annotations

import functools
import re

# Slack's spelling where it differs from the emoji package's (Slack's own picker names).
SLACK_NAMES = frozenset({
    "large_green_circle", "large_yellow_circle", "large_orange_circle", "large_purple_circle",
    "large_brown_circle", "large_red_square", "large_green_square", "large_yellow_square",
    "large_orange_square", "large_blue_square", "large_purple_square", "large_brown_square",
    "simple_smile", "slightly_smiling_face", "white_frowning_face", "thumbsup_all",
    "octagonal_sign", "skin-tone-2", "skin-tone-3", "skin-tone-4", "skin-tone-5", "skin-tone-6",
})

_SKIN_TONE = re.compile(r"::skin-tone-[2-6]$")


@functools.cache
def standard_names() -> frozenset[str]:
    """Every standard emoji name Slack knows (from the ``emoji`` package, a sim extra)."""
    import emoji  # the sim extra; imported here so the module loads without it

    names: set[str] = set(SLACK_NAMES)
    for data in emoji.EMOJI_DATA.values():
        names.add(data["en"].strip(":").lower())
        names.update(alias.strip(":").lower() for alias in data.get("alias", []))
    return frozenset(names)


def is_valid(name: str, custom: set[str] | frozenset[str] = frozenset()) -> bool:
    """Whether ``name`` (without colons) is an emoji Slack would accept as a reaction."""
    base = _SKIN_TONE.sub("", name)
    return base in custom or base in standard_names()


def check_custom_name(name: str) -> str:
    """A name for a custom emoji: Slack's rule (lowercase letters, digits, - and _)."""
    name = name.strip(":")
    if not re.fullmatch(r"[a-z0-9_\-]{1,100}", name):
        raise ValueError(f"custom emoji names are lowercase letters, digits, - and _: {name!r}")
    return name
