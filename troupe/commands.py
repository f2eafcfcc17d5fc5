"""Commands: the ``@command`` decorator, the pattern language, matching, help and "did you mean".

Pure Python, no Slack code. A plugin declares commands on its methods::

    class Lights(Plugin):
        @command("toggle {light} light")
        def toggle(self, ctx, light: str):
            \"\"\"Toggle a light.\"\"\"

        @command("switch {light} [light] {state:on|off} [for {minutes:int} minute|minutes]")
        def switch(self, ctx, light, state, minutes=None): ...

The core matches a message against every command of every plugin::

    for plugin in plugins:
        for spec in commands_of(plugin):          # bound to plugin, definition order
            m = spec.match(text)
            if m:
                m.call(ctx)                       # == getattr(plugin, spec.attr)(ctx, **m.args)

or lets :func:`best_match` pick the most specific command when several match.

Pattern language
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
A typed value that does not parse makes the pattern not match (then :func:`suggest` can help).

Ambiguity: when several commands match, :func:`best_match` prefers the highest
``Match.specificity`` (the number of literal words the matched pattern requires), and the
first in plugin/definition order among equals.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import inspect
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MODES",
    "TYPES",
    "CommandSpec",
    "Match",
    "Pattern",
    "PatternError",
    "best_match",
    "command",
    "commands_of",
    "help_for",
    "help_text",
    "suggest",
]

MODES = ("exclusive", "broadcast", "sequential")
TYPES = ("word", "int", "percent", "time", "rest")  # plus "" (default) and "a|b|c" choices
ATTR = "__troupe_command__"

_TRAILING = re.compile(r"[\s.!?]+\Z")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


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
            raise ValueError(f"{value} is not a percentage")
        return value
    if ph.kind == "time":
        return _parse_time(raw)
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
        body = self._regex(self._items)
        self.regex = re.compile(r"\A" + body + r"\Z", re.IGNORECASE | re.DOTALL)
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

    def _regex(self, items: list[Any]) -> str:
        out = []
        for it in items:
            if isinstance(it, _Opt):
                out.append("(?:" + self._regex(it.items) + ")?")
            elif isinstance(it, _Lit):
                alts = sorted(it.alts, key=len, reverse=True)
                out.append(r"\s+(?:" + "|".join(re.escape(a) for a in alts) + ")")
            else:
                group = f"g{len(self._groups)}"
                self._groups[group] = it.name
                if it.kind == "choice":
                    inner = "|".join(
                        re.escape(c) for c in sorted(it.choices, key=len, reverse=True)
                    )
                    inner = "(?:" + inner + ")"
                elif it.multi:
                    inner = _MULTI
                else:
                    inner = _TYPE_RE[it.kind]
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
    spec: CommandSpec | None = None

    @property
    def specificity(self) -> int:
        """Literal words the matched pattern requires; more is more specific."""
        return self.pattern.specificity

    def call(self, ctx: Any) -> Any:
        """Call the handler of the (bound) spec: ``handler(ctx, **args)``."""
        if self.spec is None:
            raise RuntimeError("this Match came from a bare Pattern; it has no handler")
        return self.spec.handler()(ctx, **self.args)


# --------------------------------------------------------------------------- commands


@dataclass(eq=False)
class CommandSpec:
    """What ``@command`` records about one command of a plugin method.

    ``owner`` is the plugin instance once bound (``commands_of(plugin)`` returns bound specs).
    """

    patterns: list[Pattern]
    func: Callable[..., Any]
    name: str
    mode: str = "exclusive"
    aliases: list[str] = field(default_factory=list)
    runs_on: Callable[[Any, dict[str, Any]], bool] | str | None = None
    idempotent: bool = False
    lease: float | None = None
    summary: str = ""
    doc: str = ""
    owner: Any = None

    @property
    def pattern(self) -> Pattern:
        """The main pattern (the first)."""
        return self.patterns[0]

    @property
    def usage(self) -> str:
        """Human readable form of the main pattern: ``switch <light> [light] on|off ...``."""
        return self.patterns[0].usage

    @property
    def specificity(self) -> int:
        """Literal words required by the main pattern."""
        return self.patterns[0].specificity

    @property
    def attr(self) -> str:
        """The attribute name of the handler method on the plugin."""
        return self.func.__name__

    def match(self, text: str) -> Match | None:
        """Try the main pattern, then the aliases, in order."""
        for p in self.patterns:
            m = p.match(text)
            if m is not None:
                m.spec = self
                return m
        return None

    def bind(self, obj: Any) -> CommandSpec:
        """A copy of this spec bound to the plugin instance ``obj``."""
        return dataclasses.replace(self, owner=obj)

    def handler(self, obj: Any = None) -> Callable[..., Any]:
        """The bound handler: ``spec.handler(plugin)(ctx, **args)``; ``obj`` defaults to owner."""
        obj = self.owner if obj is None else obj
        if obj is None:
            return self.func
        return getattr(obj, self.attr)

    def runs_here(self, args: dict[str, Any], obj: Any = None) -> bool:
        """Evaluate ``runs_on`` for this plugin instance (``True`` when there is none).

        ``runs_on`` may be a callable ``(plugin, args) -> bool`` or the name of a plugin
        attribute: a method called with ``args``, or a plain value read as a bool.
        """
        obj = self.owner if obj is None else obj
        if self.runs_on is None:
            return True
        if isinstance(self.runs_on, str):
            value = getattr(obj, self.runs_on)
            return bool(value(args) if callable(value) else value)
        return bool(self.runs_on(obj, args))

    def __repr__(self) -> str:
        return f"<CommandSpec {self.name} {self.usage!r} mode={self.mode}>"


def _check_signature(func: Callable[..., Any], patterns: list[Pattern], where: str) -> None:
    """Every placeholder must be a parameter; every required parameter must be filled."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # builtins and the like: nothing to check
        return
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_POSITIONAL for p in params[:2]):
        return
    handler_params = params[2:]  # self, ctx
    by_name = {
        p.name: p for p in handler_params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    var_kw = any(p.kind is p.VAR_KEYWORD for p in handler_params)
    needed = [p.name for p in by_name.values() if p.default is p.empty]
    for pat in patterns:
        for name in pat.names:
            if name not in by_name and not var_kw:
                raise PatternError(
                    f"{where}: pattern {pat.text!r} has placeholder {{{name}}} but "
                    f"{func.__qualname__}() has no parameter {name!r}"
                )
        required = set(pat.required)
        for name in needed:
            if name not in required:
                hint = "is optional there" if name in pat.names else "is not in it"
                raise PatternError(
                    f"{where}: parameter {name!r} of {func.__qualname__}() has no default, "
                    f"but {{{name}}} {hint} in pattern {pat.text!r}; give it a default"
                )


def command(
    pattern: str,
    *,
    mode: str = "exclusive",
    aliases: Sequence[str] = (),
    runs_on: Callable[[Any, dict[str, Any]], bool] | str | None = None,
    idempotent: bool = False,
    name: str | None = None,
    lease: float | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a plugin method as a command. Errors in the pattern raise :class:`PatternError`.

    ``lease``: seconds before a silent holder's claim may be taken over, for commands
    that legitimately run longer than the configured ``[troupe] lease`` (an update).

    The method gets a list of :class:`CommandSpec` in its ``__troupe_command__`` attribute
    (a method may carry several ``@command`` decorators; they are kept top to bottom).
    """
    where = f"@command({pattern!r})"
    if mode not in MODES:
        raise PatternError(f"{where}: unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if isinstance(aliases, str):
        raise PatternError(
            f"{where}: aliases must be a list of patterns, not the string {aliases!r}"
        )
    if runs_on is not None and not (callable(runs_on) or isinstance(runs_on, str)):
        raise PatternError(
            f"{where}: runs_on must be None, a callable (plugin, args) -> bool or a method name, "
            f"not {runs_on!r}"
        )
    if lease is not None and not (isinstance(lease, int | float) and lease > 0):
        raise PatternError(f"{where}: lease must be a positive number of seconds, not {lease!r}")
    patterns = [Pattern(pattern)] + [Pattern(a) for a in aliases]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        target = getattr(func, "__func__", func)  # tolerate staticmethod/classmethod
        if not callable(target):
            raise PatternError(f"{where}: can only decorate functions, not {func!r}")
        _check_signature(target, patterns, where)
        doc = inspect.cleandoc(target.__doc__ or "")
        spec = CommandSpec(
            patterns=patterns,
            func=target,
            name=name or target.__name__,
            mode=mode,
            aliases=list(aliases),
            runs_on=runs_on,
            idempotent=idempotent,
            lease=lease,
            summary=doc.splitlines()[0].strip() if doc else "",
            doc=doc,
        )
        existing = list(getattr(target, ATTR, []))
        setattr(target, ATTR, [spec, *existing])  # decorators apply bottom-up
        return func

    return decorate


def commands_of(obj: Any) -> list[CommandSpec]:
    """The command specs of a plugin (instance or class), in definition order.

    Base-class commands come first; a subclass overriding a method replaces its commands
    (or drops them, if the override is not decorated). Given an instance, the specs are
    bound to it (``spec.owner``), so ``spec.match(text).call(ctx)`` works.
    """
    cls = obj if isinstance(obj, type) else type(obj)
    found: dict[str, list[CommandSpec]] = {}
    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            target = getattr(value, "__func__", value)
            specs = getattr(target, ATTR, None) if callable(target) else None
            if specs:
                found[attr] = list(specs)
            elif attr in found:
                del found[attr]
    seen: set[int] = set()  # the same function under two names (`alias = toggle`) counts once
    out = []
    for specs in found.values():
        for s in specs:
            if id(s) not in seen:
                seen.add(id(s))
                out.append(s)
    if not isinstance(obj, type):
        out = [s.bind(obj) for s in out]
    return out


def best_match(text: str, specs: Iterable[CommandSpec]) -> Match | None:
    """The most specific match of ``text`` among ``specs``; the first one among equals."""
    best: Match | None = None
    for spec in specs:
        m = spec.match(text)
        if m is not None and (best is None or m.specificity > best.specificity):
            best = m
    return best


# --------------------------------------------------------------------------- did you mean


def _ratio(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


_SUGGEST_MAX = 300  # characters of a message worth comparing; keeps suggest() fast
_WORD_CUTOFF = 0.75  # below this a word is not a misspelling of a literal ("what" vs "at")


def _lit_score(word: str, alts: tuple[str, ...]) -> float:
    score = max(_ratio(word, a.lower()) for a in alts)
    return score if score >= _WORD_CUTOFF else 0.0


def _relaxed(pattern: Pattern) -> tuple[re.Pattern[str], list[tuple[str, tuple[str, ...]]]]:
    """The pattern with every literal word and choice accepting any word, captured."""
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

    return re.compile(r"\A" + emit(pattern._items) + r"\Z", re.DOTALL), groups


def _score(text: str, pattern: Pattern) -> float:
    words = text.split()
    best = 0.0
    # 1. the text has the pattern's shape, with misspelt literal words
    regex, groups = _relaxed(pattern)
    m = regex.match(" " + text)
    if m is not None:
        scores = [_lit_score(m.group(g), alts) for g, alts in groups if m.group(g) is not None]
        if scores:
            best = sum(scores) / len(scores)
    # 2. the pattern's required literal words appear (roughly) somewhere in the text;
    #    a leading literal (the verb: "toggle", "switch") weighs double
    lits = [it.alts for it in pattern._items if isinstance(it, _Lit)]
    if lits and words:
        weights = [
            2.0 if i == 0 and isinstance(pattern._items[0], _Lit) else 1.0 for i in range(len(lits))
        ]
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


def suggest(text: str, specs: Iterable[CommandSpec], n: int = 1, cutoff: float = 0.5) -> list[str]:
    """ "Did you mean": up to ``n`` usage strings of the commands closest to ``text``.

    ``[]`` when nothing scores at least ``cutoff`` (0..1).
    """
    text = _TRAILING.sub("", " " + text[:_SUGGEST_MAX].strip()).strip().lower()
    if not text:
        return []
    scored: dict[str, float] = {}
    order: dict[str, int] = {}
    for spec in specs:
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


# --------------------------------------------------------------------------- help


def help_text(specs: Iterable[CommandSpec]) -> str:
    """One line per command, in the order given: ``usage — summary``."""
    lines = []
    for spec in specs:
        lines.append(f"{spec.usage} — {spec.summary}" if spec.summary else spec.usage)
    return "\n".join(lines)


def _full_help(spec: CommandSpec) -> str:
    parts = [spec.usage]
    if spec.doc:
        parts.append(spec.doc)
    if len(spec.patterns) > 1:
        parts.append("Also: " + ", ".join(p.usage for p in spec.patterns[1:]))
    return "\n".join(parts)


def help_for(topic: str, specs: Iterable[CommandSpec]) -> str | None:
    """Full help (usage, docstring, aliases) of the command that best fits ``topic``.

    Tried in order: the command's name; a command the topic matches as a message
    (``help toggle dining light``); the first word of a usage; then a close spelling of a
    name or usage. ``None`` when nothing fits.
    """
    specs = list(specs)
    t = " ".join(_TRAILING.sub("", " " + topic.strip()).split()).lower()
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
            lead = p._items[0]
            if isinstance(lead, _Lit) and first in (a.lower() for a in lead.alts):
                return _full_help(spec)
    keys: dict[str, CommandSpec] = {}
    for spec in specs:
        keys.setdefault(spec.name.lower(), spec)
        for p in spec.patterns:
            keys.setdefault(p.usage.lower(), spec)
            keys.setdefault(p.skeleton.lower(), spec)
    close = difflib.get_close_matches(t, list(keys), n=1, cutoff=0.7)
    if close:
        return _full_help(keys[close[0]])
    return None
