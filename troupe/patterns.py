"""The pattern language of commands: parsing a pattern, typed values, matching text against it.

Pure Python, no Slack code. ``Pattern(text).match(message) -> Match | None``; the
``@command`` decorator (:mod:`troupe.commands`) compiles a command's patterns once, and
:func:`best_match` picks the most specific command when several match.

Pattern language
----------------
----------------
``word``              a literal word: case-insensitive; any run of whitespace separates words.
``a|b``               alternative literal words (``minute|minutes``), at top level or in groups.
``{name}``            one word; but when the next thing in the pattern is a literal word (or a
                      choice, or an optional group starting with one) it takes one OR MORE
                      words (up to ``MAX_WORDS``), as few as possible: ``toggle {light} light``
                      matches ``toggle dining room light`` with ``light="dining room"``.
``{name:word}``       exactly one word.
``{name:int}``        an integer (``-3``, ``42``) -> ``int``.
``{name:percent}``    0..100 with an optional ``%`` (``40%``, ``40``) -> ``int``.
``{name:time}``       ``22:30``, ``7:05``, ``7am``, ``7:30pm``, ``7 pm``, ``noon``, ``midnight``
                      -> ``datetime.time``. Impossible times (``25:00``, ``13pm``) do not match.
``{name:a|b|c}``      one of the choices, case-insensitive; the value is lower-case.
``{name:rest}``       the rest of the text, verbatim (original case, spacing and trailing
                      punctuation); must be the last thing in the pattern.
``[ ... ]``           an optional group (may nest, may hold placeholders). Placeholders of a
                      group that did not match are absent from ``Match.args``, so the
                      handler's default applies.

Matching is anchored on the whole text, ignoring leading/trailing whitespace and trailing
``.``, ``!`` or ``?``. Values of ``{name}``/``{name:word}`` keep the user's case (multi-word
values have their inner whitespace collapsed to one space); plugins compare them casefolded.
A typed value that does not parse makes the pattern not match (then
:func:`troupe.help.suggest` can help).

Ambiguity: when several commands match, :func:`best_match` prefers the highest
``Match.specificity`` (the number of literal words the matched pattern requires), and the
first in plugin/definition order among equals.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "MAX_WORDS", "TYPES", "Match", "Matcher", "OutOfRange", "Pattern", "PatternError",
    "best_match", "trim",
]

TYPES = ("word", "int", "percent", "time", "rest")  # plus "" (default) and "a|b|c" choices

_TRAILING = re.compile(r"[\s.!?]+\Z")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def trim(text: str) -> str:
    """``text`` as matching sees it: stripped, without trailing ``.``, ``!`` or ``?``."""
    return _TRAILING.sub("", " " + text.strip()).strip()


class PatternError(ValueError):
    """A malformed command pattern or ``@command`` argument; says which pattern and why."""


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Lit:
    alts: tuple[str, ...]


@dataclass
class _Ph:
    name: str
    kind: str  # "", "word", "int", "percent", "time", "rest", "choice"
    choices: tuple[str, ...] = ()
    optional: bool = False
    multi: bool = False  # default placeholder that may take several words


@dataclass
class _Opt:
    items: list[Any]


def _tokenize(text: str) -> list[tuple[str, Any]]:
    """Split a pattern into ("[",), ("]",), ("lit", alts) and ("ph", (name, type)) tokens."""
    tokens: list[tuple[str, Any]] = []
    word: list[str] = []
    pending_ph = False  # a placeholder just closed: the next char must not glue onto it

    def flush() -> None:
        if word:
            w = "".join(word)
            alts = tuple(w.split("|"))
            if any(not a for a in alts):
                raise PatternError(
                    f"pattern {text!r}: empty alternative in {w!r} "
                    "(write 'a|b', not '|a' or 'a||b')"
                )
            tokens.append(("lit", alts))
            word.clear()

    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace() or c in "[]":
            flush()
            pending_ph = False
            if c == "[":
                tokens.append(("[", None))
            elif c == "]":
                tokens.append(("]", None))
            i += 1
        elif c == "{":
            if word or pending_ph:
                raise PatternError(
                    f"pattern {text!r}: placeholder at position {i} is glued to other text; "
                    "put spaces around placeholders"
                )
            end = text.find("}", i + 1)
            nested = text.find("{", i + 1)
            if end < 0 or (0 <= nested < end):
                raise PatternError(f"pattern {text!r}: unbalanced '{{' at position {i}")
            body = text[i + 1 : end].strip()
            name, _, kind = body.partition(":")
            tokens.append(("ph", (name.strip(), kind.strip(), i)))
            pending_ph = True
            i = end + 1
        elif c == "}":
            raise PatternError(f"pattern {text!r}: unbalanced '}}' at position {i}")
        else:
            if pending_ph:
                raise PatternError(
                    f"pattern {text!r}: text glued to a placeholder at position {i}; "
                    "put spaces around placeholders"
                )
            word.append(c)
            i += 1
    flush()
    return tokens


def _make_ph(text: str, name: str, kind: str, pos: int) -> _Ph:
    if not _NAME.match(name):
        raise PatternError(
            f"pattern {text!r}: bad placeholder name {name!r} at position {pos} "
            "(want a Python identifier, like {light} or {minutes:int})"
        )
    if "|" in kind:
        choices = tuple(c.strip().lower() for c in kind.split("|"))
        if any(not c or c.split() != [c] for c in choices):
            raise PatternError(
                f"pattern {text!r}: placeholder {{{name}:{kind}}} has an empty or multi-word choice"
            )
        return _Ph(name, "choice", choices)
    kind = kind.lower()
    if kind and kind not in TYPES:
        raise PatternError(
            f"pattern {text!r}: placeholder {{{name}:{kind}}} has unknown type {kind!r}; "
            f"known types: {', '.join(TYPES)}, or choices like {{{name}:on|off}}"
        )
    return _Ph(name, kind)


def _parse(text: str) -> list[Any]:
    if not isinstance(text, str) or not text.strip():
        raise PatternError(f"pattern {text!r}: empty pattern")
    root: list[Any] = []
    stack: list[list[Any]] = [root]
    for kind, value in _tokenize(text):
        if kind == "[":
            group = _Opt([])
            stack[-1].append(group)
            stack.append(group.items)
        elif kind == "]":
            if len(stack) == 1:
                raise PatternError(f"pattern {text!r}: unbalanced ']' (no '[' to close)")
            items = stack.pop()
            if not items:
                raise PatternError(f"pattern {text!r}: empty optional group '[]'")
        elif kind == "lit":
            stack[-1].append(_Lit(value))
        else:
            name, typ, pos = value
            stack[-1].append(_make_ph(text, name, typ, pos))
    if len(stack) > 1:
        raise PatternError(f"pattern {text!r}: unbalanced '[' (missing ']')")
    return root


def _walk(items: list[Any], optional: bool = False) -> Iterable[tuple[Any, bool]]:
    for it in items:
        if isinstance(it, _Opt):
            yield from _walk(it.items, True)
        else:
            yield it, optional


def _anchors(node: Any) -> bool:
    """True if ``node`` starts with something fixed a lazy multi-word placeholder can stop at."""
    if isinstance(node, _Lit):
        return True
    if isinstance(node, _Ph):
        return node.kind == "choice"
    if isinstance(node, _Opt):
        return bool(node.items) and _anchors(node.items[0])
    return False


def _annotate(items: list[Any], follow: Any, optional: bool) -> None:
    for i, it in enumerate(items):
        nxt = items[i + 1] if i + 1 < len(items) else follow
        if isinstance(it, _Opt):
            _annotate(it.items, nxt, True)
        elif isinstance(it, _Ph):
            it.optional = optional
            it.multi = it.kind == "" and _anchors(nxt)


# --------------------------------------------------------------------------- compiling

# A multi-word placeholder takes at most MAX_WORDS words: the bound keeps matching fast
# (a pattern with k such placeholders tries at most MAX_WORDS**k splits, whatever the
# length of the message) instead of exponential in the message length.
MAX_WORDS = 12
_MULTI = rf"\S+(?:\s+\S+){{0,{MAX_WORDS - 1}}}?"

_TIME_RE = (
    r"(?:noon|midnight"
    r"|(?:[01]?\d|2[0-3]):[0-5]\d"
    r"|(?:0?[1-9]|1[0-2])(?::[0-5]\d)?\s?[ap]\.?m\.?)"
)
_TYPE_RE = {
    "": r"\S+",
    "word": r"\S+",
    "int": r"[-+]?\d+",
    "percent": r"(?:100|[1-9]?\d)\s?%?",
    "time": _TIME_RE,
    "rest": r"\S.*",
}
# The shapes a typed value may be typed in, in or out of range: `dim lounge to 150%`,
# `at 25:00` (Pattern.out_of_range says what the range is).
_LOOSE_RE = {**_TYPE_RE, "percent": r"[-+]?\d+\s?%?",
             "time": r"(?:noon|midnight|\d{1,2}(?::\d{1,2})?(?:\s?[ap]\.?m\.?)?)"}


class OutOfRange(ValueError):
    """A typed value of the right shape outside its range; the message says the range."""


def _parse_time(s: str) -> datetime.time:
    s = re.sub(r"[\s.]", "", s.lower())
    if s == "noon":
        return datetime.time(12, 0)
    if s == "midnight":
        return datetime.time(0, 0)
    suffix = s[-2:] if s[-2:] in ("am", "pm") else ""
    if suffix:
        s = s[:-2]
    hour_s, _, minute_s = s.partition(":")
    hour, minute = int(hour_s), int(minute_s or 0)
    if suffix:
        if not 1 <= hour <= 12:
            raise ValueError(f"bad 12-hour time {s!r}")
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    return datetime.time(hour, minute)  # raises ValueError when out of range


def _convert(ph: _Ph, raw: str) -> Any:
    if ph.kind == "int":
        return int(raw)
    if ph.kind == "percent":
        value = int(raw.rstrip("%").strip())
        if not 0 <= value <= 100:
            raise OutOfRange(f"the {ph.name} goes from 0 to 100%")
        return value
    if ph.kind == "time":
        try:
            return _parse_time(raw)
        except ValueError:
            raise OutOfRange(f"`{raw.strip()}` is not a time of day: hours go from 0 to 23 "
                             "(1 to 12 with am or pm), minutes from 00 to 59") from None
    if ph.kind == "choice":
        return raw.lower()
    if ph.kind == "rest":
        return raw
    return " ".join(raw.split())


def _usage_lit(alts: tuple[str, ...]) -> str:
    longest = max(alts, key=len)
    if len(alts) > 1 and all(longest.lower().startswith(a.lower()) for a in alts):
        return longest  # minute|minutes -> minutes
    return "|".join(alts)


class Pattern:
    """A compiled command pattern. ``Pattern(text).match(message) -> Match | None``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._items = _parse(text)
        _annotate(self._items, None, False)
        self._phs: dict[str, _Ph] = {}
        flat = list(_walk(self._items))
        for idx, (node, _opt) in enumerate(flat):
            if not isinstance(node, _Ph):
                continue
            if node.name in self._phs:
                raise PatternError(f"pattern {text!r}: placeholder {{{node.name}}} appears twice")
            if node.kind == "rest" and idx != len(flat) - 1:
                raise PatternError(
                    f"pattern {text!r}: {{{node.name}:rest}} takes the rest of the text, "
                    "so it must be the last thing in the pattern"
                )
            self._phs[node.name] = node
        self._groups: dict[str, str] = {}
        body = self._regex(self._items, _TYPE_RE, self._groups)
        self.regex = re.compile(r"\A" + body + r"\Z", re.IGNORECASE | re.DOTALL)
        self._loose_groups: dict[str, str] = {}
        self._loose = re.compile(r"\A" + self._regex(self._items, _LOOSE_RE, self._loose_groups)
                                 + r"\Z", re.IGNORECASE | re.DOTALL)
        self.usage = self._usage(self._items)
        self.specificity = sum(1 for it in self._items if isinstance(it, _Lit))
        self.literals = [it.alts for it, _opt in flat if isinstance(it, _Lit)]

    # names, in pattern order
    @property
    def names(self) -> list[str]:
        """Placeholder names, in pattern order."""
        return list(self._phs)

    @property
    def required(self) -> list[str]:
        """Placeholder names outside optional groups (always present in ``Match.args``)."""
        return [n for n, ph in self._phs.items() if not ph.optional]

    @property
    def skeleton(self) -> str:
        """The literal words only (first alternative each): ``"switch light for minute"``."""
        return " ".join(alts[0] for alts in self.literals)

    @property
    def required_literals(self) -> list[tuple[str, ...]]:
        """The alternatives of each literal word outside optional groups, in pattern order."""
        return [it.alts for it in self._items if isinstance(it, _Lit)]

    @property
    def leading_literal(self) -> tuple[str, ...] | None:
        """The alternatives of the word the pattern starts with (its verb), if it is literal."""
        lead = self._items[0]
        return lead.alts if isinstance(lead, _Lit) else None

    def relaxed(self) -> tuple[re.Pattern[str], list[tuple[str, tuple[str, ...]]]]:
        """This pattern with every literal word and choice accepting any word, captured.

        Returns the regex (to match against ``" " + text``) and, per capture group, its
        name and the words the pattern wants there: "did you mean" scores misspellings.
        """
        groups: list[tuple[str, tuple[str, ...]]] = []

        def emit(items: list[Any]) -> str:
            out = []
            for it in items:
                if isinstance(it, _Opt):
                    out.append("(?:" + emit(it.items) + ")?")
                elif isinstance(it, _Lit) or it.kind == "choice":
                    g = f"r{len(groups)}"
                    groups.append((g, it.alts if isinstance(it, _Lit) else it.choices))
                    out.append(rf"\s+(?P<{g}>\S+)")
                elif it.kind == "rest":
                    out.append(r"\s+\S.*")
                else:
                    out.append(r"\s+" + (_MULTI if it.multi else r"\S+"))
            return "".join(out)

        return re.compile(r"\A" + emit(self._items) + r"\Z", re.DOTALL), groups

    def _regex(self, items: list[Any], types: dict[str, str], groups: dict[str, str]) -> str:
        out = []
        for it in items:
            if isinstance(it, _Opt):
                out.append("(?:" + self._regex(it.items, types, groups) + ")?")
            elif isinstance(it, _Lit):
                alts = sorted(it.alts, key=len, reverse=True)
                out.append(r"\s+(?:" + "|".join(re.escape(a) for a in alts) + ")")
            else:
                group = f"g{len(groups)}"
                groups[group] = it.name
                if it.kind == "choice":
                    inner = "|".join(
                        re.escape(c) for c in sorted(it.choices, key=len, reverse=True)
                    )
                    inner = "(?:" + inner + ")"
                elif it.multi:
                    inner = _MULTI
                else:
                    inner = types[it.kind]
                out.append(rf"\s+(?P<{group}>{inner})")
        return "".join(out)

    def _usage(self, items: list[Any]) -> str:
        out = []
        for it in items:
            if isinstance(it, _Opt):
                out.append("[" + self._usage(it.items) + "]")
            elif isinstance(it, _Lit):
                out.append(_usage_lit(it.alts))
            elif it.kind == "choice":
                out.append("|".join(it.choices))
            elif it.kind == "rest":
                out.append(f"<{it.name}...>")
            else:
                out.append(f"<{it.name}>")
        return " ".join(out)

    def match(self, text: str) -> Match | None:
        """Match the whole of ``text``; ``None`` when it does not fit or a value does not parse."""
        full = " " + text.strip()
        trimmed = _TRAILING.sub("", full)
        m = self.regex.match(trimmed)
        if m is None:
            return None
        args: dict[str, Any] = {}
        for group, name in self._groups.items():
            raw = m.group(group)
            if raw is None:
                continue
            ph = self._phs[name]
            if ph.kind == "rest":
                raw = full[m.start(group) :]  # verbatim, with its trailing punctuation
            try:
                args[name] = _convert(ph, raw)
            except ValueError:
                return None
        return Match(args=args, pattern=self)

    def out_of_range(self, text: str) -> str | None:
        """Why ``text`` has this pattern's shape but a typed value outside its range
        (``dim lounge to 150%``: "the level goes from 0 to 100%"); None otherwise."""
        m = self._loose.match(_TRAILING.sub("", " " + text.strip()))
        if m is None:
            return None
        for group, name in self._loose_groups.items():
            if m.group(group) is not None:
                try:
                    _convert(self._phs[name], m.group(group))
                except OutOfRange as e:
                    return str(e)
                except ValueError:
                    return None
        return None

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


@dataclass
class Match:
    """A successful match: ``args`` (converted values), ``pattern``, and ``spec`` via a spec."""

    args: dict[str, Any]
    pattern: Pattern
    # The troupe.commands.CommandSpec whose pattern matched (CommandSpec.match sets it);
    # None from a bare Pattern. Typed loosely: commands builds on this module, not back.
    spec: Any = None

    @property
    def specificity(self) -> int:
        """Literal words the matched pattern requires; more is more specific."""
        return self.pattern.specificity

    def call(self, ctx: Any) -> Any:
        """Call the handler of the (bound) spec: ``handler(ctx, **args)``."""
        if self.spec is None:
            raise RuntimeError("this Match came from a bare Pattern; it has no handler")
        return self.spec.handler()(ctx, **self.args)


class Matcher(Protocol):
    """Anything that matches text to a Match or None: a ``troupe.commands.CommandSpec``."""

    def match(self, text: str) -> Match | None: ...


def best_match(text: str, specs: Iterable[Matcher]) -> Match | None:
    """The most specific match of ``text`` among ``specs``; the first one among equals."""
    best: Match | None = None
    for spec in specs:
        m = spec.match(text)
        if m is not None and (best is None or m.specificity > best.specificity):
            best = m
    return best
