"""Help and "did you mean": help text from command docstrings, suggestions for unknown text.

Pure Python, no Slack code. ``help_text(specs)`` lists commands, ``help_for(topic, specs)``
explains one, ``suggest(text, specs)`` names the commands closest to text that matched none.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Protocol

from troupe.patterns import Match, Pattern, best_match, trim
from troupe.text import excerpt

__all__ = ["Documented", "help_for", "help_text", "suggest", "unknown_answer"]


class Documented(Protocol):
    """What help and suggestions read of a command: a ``troupe.commands.CommandSpec``.

    (A protocol, not the class: troupe.commands builds on this module, not back.)
    """

    name: str
    summary: str
    doc: str
    patterns: list[Pattern]
    internal: bool

    @property
    def usage(self) -> str: ...

    def match(self, text: str) -> Match | None: ...


# --------------------------------------------------------------------------- did you mean


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


_SUGGEST_MAX = 300  # characters of a message worth comparing; keeps suggest() fast
_WORD_CUTOFF = 0.75  # below this a word is not a misspelling of a literal ("what" vs "at")


def _lit_score(word: str, alts: tuple[str, ...]) -> float:
    score = max(_ratio(word, a.lower()) for a in alts)
    return score if score >= _WORD_CUTOFF else 0.0


def _score(text: str, pattern: Pattern) -> float:
    words = text.split()
    best = 0.0
    # 1. the text has the pattern's shape, with misspelt literal words
    regex, groups = pattern.relaxed()
    m = regex.match(" " + text)
    if m is not None:
        scores = [_lit_score(m.group(g), alts) for g, alts in groups if m.group(g) is not None]
        if scores:
            best = sum(scores) / len(scores)
    # 2. the pattern's required literal words appear (roughly) somewhere in the text;
    #    a leading literal (the verb: "toggle", "switch") weighs double
    lits = pattern.required_literals
    if lits and words:
        lead = pattern.leading_literal is not None
        weights = [2.0 if i == 0 and lead else 1.0 for i in range(len(lits))]
        cover = sum(
            wt * max(_lit_score(w, alts) for w in words)
            for wt, alts in zip(weights, lits, strict=True)
        )
        best = max(best, 0.9 * cover / sum(weights))
    # 3. plain character similarity with the skeleton ("rollcall" for "roll call")
    if pattern.skeleton:
        char = _ratio(text, pattern.skeleton.lower())
        best = max(best, char if char >= _WORD_CUTOFF else 0.0)
    return best


def suggest(text: str, specs: Iterable[Documented], n: int = 1, cutoff: float = 0.5) -> list[str]:
    """ "Did you mean": up to ``n`` usage strings of the commands closest to ``text``.

    ``[]`` when nothing scores at least ``cutoff`` (0..1).
    """
    text = trim(text[:_SUGGEST_MAX]).lower()
    if not text:
        return []
    scored: dict[str, float] = {}
    order: dict[str, int] = {}
    for spec in specs:
        if spec.internal:
            continue  # not for people: never "did you mean" it
        for pattern in spec.patterns:
            s = _score(text, pattern)
            usage = pattern.usage
            if s > scored.get(usage, -1.0):
                scored[usage] = s
            order.setdefault(usage, len(order))
    ranked = sorted(
        (u for u, s in scored.items() if s >= cutoff), key=lambda u: (-scored[u], order[u])
    )
    return ranked[:n]


def unknown_answer(text: str, specs: Iterable[Documented]) -> str:
    """The answer to text no command matched: the range a typed value missed
    (`dim lounge to 150%`), else a short quote of it and "did you mean"."""
    specs = [spec for spec in specs if not spec.internal]
    if len(text) <= _SUGGEST_MAX:
        for spec in specs:
            for pattern in spec.patterns:
                why = pattern.out_of_range(text)
                if why:
                    return f"`{excerpt(text)}`: {why}."
    answer = f"I don't know `{excerpt(text)}`."
    guesses = suggest(text, specs)
    if guesses:
        answer += " Did you mean `" + "` or `".join(guesses) + "`?"
    return answer + " Type `help` for the list."


# --------------------------------------------------------------------------- help


def help_text(specs: Iterable[Documented]) -> str:
    """One line per command people type, in the order given: ``usage — summary``."""
    lines = []
    for spec in specs:
        if spec.internal:
            continue
        lines.append(f"{spec.usage} — {spec.summary}" if spec.summary else spec.usage)
    return "\n".join(lines)


def _full_help(spec: Documented) -> str:
    parts = [spec.usage]
    if spec.doc:
        parts.append(spec.doc)
    if len(spec.patterns) > 1:
        parts.append("Also: " + ", ".join(p.usage for p in spec.patterns[1:]))
    return "\n".join(parts)


def help_for(topic: str, specs: Iterable[Documented]) -> str | None:
    """Full help (usage, docstring, aliases) of the command that best fits ``topic``.

    Tried in order: the command's name; a command the topic matches as a message
    (``help toggle dining light``); the first word of a usage; then a close spelling of a
    name or usage. ``None`` when nothing fits.
    """
    specs = list(specs)
    t = " ".join(trim(topic).split()).lower()
    if not t or not specs:
        return None
    for spec in specs:
        if t in (spec.name.lower(), spec.name.lower().replace("_", " ")):
            return _full_help(spec)
    for spec in specs:
        if t == spec.usage.lower() or any(t == p.text.lower() for p in spec.patterns):
            return _full_help(spec)
    m = best_match(t, specs)
    if m is not None and m.spec is not None:
        return _full_help(m.spec)
    first = t.split()[0]
    for spec in specs:
        for p in spec.patterns:
            lead = p.leading_literal
            if lead is not None and first in (a.lower() for a in lead):
                return _full_help(spec)
    keys: dict[str, Documented] = {}
    for spec in specs:
        keys.setdefault(spec.name.lower(), spec)
        for p in spec.patterns:
            keys.setdefault(p.usage.lower(), spec)
            keys.setdefault(p.skeleton.lower(), spec)
    close = difflib.get_close_matches(t, list(keys), n=1, cutoff=0.7)
    if close:
        return _full_help(keys[close[0]])
    return None
