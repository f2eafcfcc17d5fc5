"""Commands: the ``@command`` decorator plugin authors use, and the specs it records.

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

The pattern language (``{light}``, ``{minutes:int}``, ``[optional]``, ``a|b``) and matching
live in :mod:`troupe.patterns`; help text and "did you mean" in :mod:`troupe.help`. Their
public names are importable from here too, as they always were.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from troupe.help import help_for, help_text, suggest
from troupe.patterns import TYPES, Match, Pattern, PatternError, best_match

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
ATTR = "__troupe_command__"


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
    admin: bool = False  # only [auth] admins may run it (see Config.may_administer)
    internal: bool = False  # posted by the Pis or Slack, not typed: help and suggest skip it
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
    admin: bool = False,
    internal: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a plugin method as a command. Errors in the pattern raise :class:`PatternError`.

    ``lease``: seconds before a silent holder's claim may be taken over, for commands
    that legitimately run longer than the configured ``[troupe] lease`` (an update).
    ``admin``: a command that changes the house itself (update, rollback, target, debug):
    only ``[auth] admins`` may run it, or every one of ``[auth] users`` while admins is empty.
    ``internal``: a command the Pis (or Slack, for a schedule) post, not one for people to
    type: `help` leaves it out and "did you mean" never suggests it.

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
            admin=admin,
            internal=internal,
            summary=" ".join(doc.split("\n\n")[0].split()),  # the first paragraph, whole
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

