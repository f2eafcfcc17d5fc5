"""Tests for the pattern language (troupe.patterns), @command and commands_of
(troupe.commands), suggest and help (troupe.help)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

import troupe.commands
from troupe import help as help_module
from troupe import patterns
from troupe.commands import CommandSpec, command, commands_of
from troupe.help import help_for, help_text, suggest
from troupe.patterns import MAX_WORDS, Match, Pattern, PatternError, best_match

T = dt.time

TOGGLE = "toggle {light} light"
SWITCH = "switch {light} [light] {state:on|off} [for {minutes:int} minute|minutes]"
DIM = "dim {light} [light] to {level:percent}"
AT = "at {time:time} {command:rest}"
HELP = "help [{topic:rest}]"
UPDATE = "update [to {version}]"

# (pattern, text, expected args or None for "does not match")
MATCHES: list[tuple[str, str, dict[str, Any] | None]] = [
    # literals, case and whitespace
    ("roll call", "roll call", {}),
    ("roll call", "ROLL Call", {}),
    ("roll call", "  roll \t  call  ", {}),
    ("roll call", "roll call.", {}),
    ("roll call", "roll call!", {}),
    ("roll call", "roll call ?!", {}),
    ("roll call", "roll", None),
    ("roll call", "roll call now", None),
    ("roll call", "please roll call", None),
    ("roll call", "rollcall", None),
    ("roll call", "", None),
    # multi-word placeholder up to a literal
    (TOGGLE, "toggle dining light", {"light": "dining"}),
    (TOGGLE, "toggle dining room light", {"light": "dining room"}),
    (TOGGLE, "Toggle  Dining   Room  LIGHT.", {"light": "Dining Room"}),
    (TOGGLE, "toggle the light light", {"light": "the light"}),
    (TOGGLE, "toggle light", None),
    (TOGGLE, "toggle dining", None),
    (TOGGLE, "toggle dining light now", None),
    # one word by default when nothing follows
    ("toggle {light}", "toggle porch", {"light": "porch"}),
    ("toggle {light}", "toggle dining room", None),
    ("say {word:word} twice", "say hello twice", {"word": "hello"}),
    ("say {word:word} twice", "say hello there twice", None),
    # optionals and choices
    (SWITCH, "switch porch on", {"light": "porch", "state": "on"}),
    (SWITCH, "switch porch light OFF", {"light": "porch", "state": "off"}),
    (SWITCH, "switch dining room on", {"light": "dining room", "state": "on"}),
    (
        SWITCH,
        "switch dining room light off for 5 minutes.",
        {"light": "dining room", "state": "off", "minutes": 5},
    ),
    (SWITCH, "switch porch on for 1 minute", {"light": "porch", "state": "on", "minutes": 1}),
    (SWITCH, "switch porch on for 1 MINUTES", {"light": "porch", "state": "on", "minutes": 1}),
    (SWITCH, "switch porch on for five minutes", None),
    (SWITCH, "switch porch on for 5", None),
    (SWITCH, "switch porch dim", None),
    (SWITCH, "switch porch", None),
    (UPDATE, "update", {}),
    (UPDATE, "update to v1.2.0-RC1", {"version": "v1.2.0-RC1"}),
    (UPDATE, "update to", None),
    (UPDATE, "update to 1 2", None),
    ("[please] lights", "please lights", {}),
    ("[please] lights", "lights", {}),
    ("lights [please [now]]", "lights please now", {}),
    ("lights [please [now]]", "lights now", None),
    ("turn|switch {light} {state:on|off}", "turn porch on", {"light": "porch", "state": "on"}),
    ("turn|switch {light} {state:on|off}", "Switch porch off", {"light": "porch", "state": "off"}),
    ("{light} {state:On|OFF}", "porch ON", {"light": "porch", "state": "on"}),
    # int and percent
    ("wait {n:int}", "wait 42", {"n": 42}),
    ("wait {n:int}", "wait -3", {"n": -3}),
    ("wait {n:int}", "wait 4.5", None),
    ("wait {n:int}", "wait lots", None),
    (DIM, "dim dining to 40%", {"light": "dining", "level": 40}),
    (DIM, "dim dining room light to 40", {"light": "dining room", "level": 40}),
    (DIM, "dim dining to 0", {"light": "dining", "level": 0}),
    (DIM, "dim dining to 100%", {"light": "dining", "level": 100}),
    (DIM, "dim dining to 101", None),
    (DIM, "dim dining to 150%", None),
    (DIM, "dim dining to -5", None),
    (DIM, "dim dining to lots", None),
    (DIM, "dim dining to 40%%", None),
    # time
    ("wake {t:time}", "wake 22:30", {"t": T(22, 30)}),
    ("wake {t:time}", "wake 7:05", {"t": T(7, 5)}),
    ("wake {t:time}", "wake 07:05", {"t": T(7, 5)}),
    ("wake {t:time}", "wake 0:00", {"t": T(0, 0)}),
    ("wake {t:time}", "wake 23:59", {"t": T(23, 59)}),
    ("wake {t:time}", "wake 7am", {"t": T(7, 0)}),
    ("wake {t:time}", "wake 7AM", {"t": T(7, 0)}),
    ("wake {t:time}", "wake 7 pm", {"t": T(19, 0)}),
    ("wake {t:time}", "wake 7:30pm", {"t": T(19, 30)}),
    ("wake {t:time}", "wake 7:30 p.m.", {"t": T(19, 30)}),
    ("wake {t:time}", "wake 12am", {"t": T(0, 0)}),
    ("wake {t:time}", "wake 12pm", {"t": T(12, 0)}),
    ("wake {t:time}", "wake 12:15am", {"t": T(0, 15)}),
    ("wake {t:time}", "wake noon", {"t": T(12, 0)}),
    ("wake {t:time}", "wake midnight", {"t": T(0, 0)}),
    ("wake {t:time}", "wake 25:00", None),
    ("wake {t:time}", "wake 24:00", None),
    ("wake {t:time}", "wake 7:60", None),
    ("wake {t:time}", "wake 7:5", None),
    ("wake {t:time}", "wake 13pm", None),
    ("wake {t:time}", "wake 0am", None),
    ("wake {t:time}", "wake 22:30pm", None),
    ("wake {t:time}", "wake 7", None),
    ("wake {t:time}", "wake soon", None),
    # rest: verbatim, original case, spacing and punctuation
    (AT, "at 22:00 toggle Dining light", {"time": T(22, 0), "command": "toggle Dining light"}),
    (AT, "AT 7am Say  Hello!", {"time": T(7, 0), "command": "Say  Hello!"}),
    (AT, "at 7:30pm dim porch to 5%.", {"time": T(19, 30), "command": "dim porch to 5%."}),
    (AT, "at 25:00 toggle porch light", None),
    (AT, "at 7am", None),
    (HELP, "help", {}),
    (HELP, "help!", {}),
    (HELP, "HELP switch", {"topic": "switch"}),
    (HELP, "help toggle dining light?", {"topic": "toggle dining light?"}),
    (HELP, "helpme", None),
    ("note {text:rest}", "note line one\nline two", {"text": "line one\nline two"}),
    # literal punctuation is matched literally
    ("what's up", "What's up?", {}),
    ("a.b {x}", "a.b 1", {"x": "1"}),
    ("a.b {x}", "axb 1", None),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), MATCHES)
def test_pattern_match(pattern: str, text: str, expected: dict[str, Any] | None) -> None:
    m = Pattern(pattern).match(text)
    if expected is None:
        assert m is None, f"{pattern!r} should not match {text!r}, got {m and m.args}"
    else:
        assert m is not None, f"{pattern!r} should match {text!r}"
        assert m.args == expected
        assert isinstance(m, Match)
        assert m.spec is None


def test_typed_values_have_python_types() -> None:
    m = Pattern(SWITCH).match("switch porch on for 10 minutes")
    assert m is not None and type(m.args["minutes"]) is int
    m = Pattern(DIM).match("dim porch to 7%")
    assert m is not None and type(m.args["level"]) is int
    m = Pattern(AT).match("at 6:45am x")
    assert m is not None and isinstance(m.args["time"], dt.time)


USAGES = [
    (TOGGLE, "toggle <light> light"),
    (SWITCH, "switch <light> [light] on|off [for <minutes> minutes]"),
    (DIM, "dim <light> [light] to <level>"),
    (AT, "at <time> <command...>"),
    (HELP, "help [<topic...>]"),
    (UPDATE, "update [to <version>]"),
    ("roll call", "roll call"),
    ("turn|switch {light}", "turn|switch <light>"),
    ("  lights   [ please ] ", "lights [please]"),
]


@pytest.mark.parametrize(("pattern", "usage"), USAGES)
def test_usage(pattern: str, usage: str) -> None:
    assert Pattern(pattern).usage == usage


@pytest.mark.parametrize(
    ("pattern", "specificity"),
    [("roll call", 2), (TOGGLE, 2), (SWITCH, 1), (DIM, 2), (AT, 1), ("{x}", 0)],
)
def test_specificity(pattern: str, specificity: int) -> None:
    assert Pattern(pattern).specificity == specificity


# (pattern, words the error message must contain)
BAD_PATTERNS = [
    ("", ["empty"]),
    ("   ", ["empty"]),
    ("toggle {light light", ["unbalanced", "{"]),
    ("toggle light}", ["unbalanced", "}"]),
    ("toggle {a{b}}", ["unbalanced"]),
    ("toggle [light", ["unbalanced", "["]),
    ("toggle light]", ["unbalanced", "]"]),
    ("toggle [] light", ["empty optional"]),
    ("dim {level:percentage}", ["unknown type", "percentage"]),
    ("at {cmd:rest} now", ["rest", "last"]),
    ("at [{cmd:rest}] now", ["rest", "last"]),
    ("copy {x} to {x}", ["twice", "{x}"]),
    ("copy {x} [to {x:int}]", ["twice"]),
    ("toggle {} light", ["placeholder name"]),
    ("toggle {2nd} light", ["placeholder name", "2nd"]),
    ("toggle {my light} light", ["placeholder name"]),
    ("toggle x{light}", ["glued"]),
    ("toggle {light}s", ["glued"]),
    ("minute||minutes", ["empty alternative"]),
    ("| lights", ["empty alternative"]),
    ("set {state:on||off}", ["choice"]),
]


@pytest.mark.parametrize(("pattern", "words"), BAD_PATTERNS)
def test_bad_patterns(pattern: str, words: list[str]) -> None:
    with pytest.raises(PatternError) as err:
        Pattern(pattern)
    msg = str(err.value)
    assert repr(pattern) in msg, msg  # the message names the pattern
    for w in words:
        assert w in msg, msg


def test_multi_word_placeholder_is_bounded() -> None:
    p = Pattern(TOGGLE)
    words = " ".join(f"w{i}" for i in range(MAX_WORDS))
    assert p.match(f"toggle {words} light") is not None
    assert p.match(f"toggle {words} extra light") is None


def test_long_messages_are_fast() -> None:
    big = " ".join(["x"] * 3000)
    start = time.perf_counter()
    for pattern in ["{a} x {b} x {c} x {d} x {e} y", SWITCH, TOGGLE, AT]:
        Pattern(pattern).match(big)
        Pattern(pattern).match("switch " + big + " on")
    suggest(big, SPECS, n=3)
    assert time.perf_counter() - start < 1.0


def test_rest_may_end_an_optional_group() -> None:
    assert Pattern("help [{topic:rest}]").names == ["topic"]
    assert Pattern("x [y [{z:rest}]]").match("x y hello") is not None


# --------------------------------------------------------------------------- @command


class Plugin:
    """Stand-in for troupe.plugin.Plugin (this module must not depend on it)."""


class Lights(Plugin):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []
        self.has_porch = True

    @command(TOGGLE)
    def toggle(self, ctx: Any, light: str) -> str:
        """Toggle a light.

        Switches it on if it is off, and off if it is on.
        """
        self.calls.append(("toggle", ctx, {"light": light}))
        return f"toggled {light}"

    @command(SWITCH, runs_on="owns")
    def switch(self, ctx: Any, light: str, state: str, minutes: int | None = None) -> str:
        """Switch a light on or off, optionally for a while."""
        self.calls.append(("switch", ctx, {"light": light, "state": state, "minutes": minutes}))
        return "ok"

    @command(DIM, idempotent=True)
    def dim(self, ctx: Any, light: str, level: int) -> None:
        """Dim a light to a percentage."""

    @command("roll call", mode="broadcast")
    def roll_call(self, ctx: Any) -> None:
        """Every Pi answers with its name."""

    @command(UPDATE, mode="sequential", name="upgrade")
    def update(self, ctx: Any, version: str | None = None) -> None:
        """Update every Pi, one at a time."""

    @command(AT)
    def at(self, ctx: Any, time: dt.time, command: str) -> None:
        """Run a command later."""

    @command(HELP)
    def help(self, ctx: Any, topic: str | None = None) -> None:
        """Show help."""

    @command("lights", aliases=["show lights", "list [all] lights"])
    def lights(self, ctx: Any) -> None:
        """List the lights."""

    def not_a_command(self, ctx: Any) -> None:
        pass

    def owns(self, args: dict[str, Any]) -> bool:
        return args.get("light") == "porch" and self.has_porch


def test_spec_fields() -> None:
    spec = Lights.toggle.__troupe_command__[0]
    assert isinstance(spec, CommandSpec)
    assert spec.name == "toggle"
    assert spec.attr == "toggle"
    assert spec.mode == "exclusive"
    assert spec.idempotent is False
    assert spec.runs_on is None
    assert spec.summary == "Toggle a light."
    assert spec.doc == "Toggle a light.\n\nSwitches it on if it is off, and off if it is on."
    assert spec.usage == "toggle <light> light"
    assert spec.pattern == Pattern(TOGGLE)
    assert [p.text for p in spec.patterns] == [TOGGLE]
    assert spec.func is Lights.toggle
    assert spec.specificity == 2


def test_spec_options() -> None:
    specs = {s.attr: s for s in commands_of(Lights)}
    assert specs["roll_call"].mode == "broadcast"
    assert specs["update"].mode == "sequential"
    assert specs["update"].name == "upgrade"
    assert specs["dim"].idempotent is True
    assert specs["switch"].runs_on == "owns"
    assert specs["lights"].aliases == ["show lights", "list [all] lights"]
    assert [p.usage for p in specs["lights"].patterns] == [
        "lights",
        "show lights",
        "list [all] lights",
    ]
    assert "not_a_command" not in specs and "owns" not in specs


def test_commands_of_definition_order_and_binding() -> None:
    plugin = Lights()
    specs = commands_of(plugin)
    assert [s.attr for s in specs] == [
        "toggle",
        "switch",
        "dim",
        "roll_call",
        "update",
        "at",
        "help",
        "lights",
    ]
    assert all(s.owner is plugin for s in specs)
    # the class's own specs are not modified by binding
    assert all(s.owner is None for s in commands_of(Lights))


def test_core_dispatch_loop() -> None:
    plugin = Lights()
    ctx = object()
    text = "switch dining room light on for 3 minutes"
    for spec in commands_of(plugin):
        m = spec.match(text)
        if m:
            handler = getattr(plugin, spec.attr)
            assert handler(ctx, **m.args) == "ok"
            break
    else:
        pytest.fail("no command matched")
    assert plugin.calls == [("switch", ctx, {"light": "dining room", "state": "on", "minutes": 3})]


def test_match_call_and_handler() -> None:
    plugin = Lights()
    ctx = object()
    (toggle,) = [s for s in commands_of(plugin) if s.name == "toggle"]
    m = toggle.match("toggle porch light")
    assert m is not None and m.spec is toggle
    assert m.call(ctx) == "toggled porch"
    assert toggle.handler()(ctx, light="hall") == "toggled hall"
    unbound = Lights.toggle.__troupe_command__[0]
    assert unbound.handler(plugin)(ctx, light="attic") == "toggled attic"
    assert unbound.bind(plugin).match("toggle x light").call(ctx) == "toggled x"
    with pytest.raises(RuntimeError):
        Pattern("x").match("x").call(ctx)  # type: ignore[union-attr]


def test_optional_placeholder_absent_uses_default() -> None:
    plugin = Lights()
    (switch,) = [s for s in commands_of(plugin) if s.name == "switch"]
    m = switch.match("switch porch off")
    assert m is not None and m.args == {"light": "porch", "state": "off"}
    m.call(None)
    assert plugin.calls[-1][2]["minutes"] is None


def test_aliases() -> None:
    (spec,) = [s for s in commands_of(Lights()) if s.name == "lights"]
    for text in ["lights", "show lights", "Show Lights!", "list lights", "list all lights"]:
        m = spec.match(text)
        assert m is not None, text
        assert m.spec is spec
    assert spec.match("show all lights") is None
    m = spec.match("list all lights")
    assert m is not None and m.pattern.text == "list [all] lights"


def test_runs_on() -> None:
    plugin = Lights()
    (switch,) = [s for s in commands_of(plugin) if s.name == "switch"]
    assert switch.runs_here({"light": "porch"}) is True
    assert switch.runs_here({"light": "attic"}) is False
    plugin.has_porch = False
    assert switch.runs_here({"light": "porch"}) is False
    (toggle,) = [s for s in commands_of(plugin) if s.name == "toggle"]
    assert toggle.runs_here({"light": "x"}) is True

    class P:
        enabled = False

        @command("a", runs_on=lambda self, args: args.get("x") == 1)
        def a(self, ctx: Any) -> None: ...

        @command("b", runs_on="enabled")
        def b(self, ctx: Any) -> None: ...

    a, b = commands_of(P())
    assert a.runs_here({"x": 1}) and not a.runs_here({})
    assert b.runs_here({}) is False


def test_decorated_twice_keeps_both_in_order() -> None:
    class P:
        @command("lights on", name="on")
        @command("lamps on", name="lamps")
        def on(self, ctx: Any) -> None:
            """Lights on."""

    specs = P.on.__troupe_command__
    assert [s.name for s in specs] == ["on", "lamps"]
    assert [s.name for s in commands_of(P())] == ["on", "lamps"]


def test_inheritance_and_override() -> None:
    class Base:
        @command("a")
        def a(self, ctx: Any) -> None: ...

        @command("b")
        def b(self, ctx: Any) -> None: ...

    class Child(Base):
        @command("b again")
        def b(self, ctx: Any) -> None: ...

        def a(self, ctx: Any) -> None:  # overridden without @command: no longer a command
            ...

        @command("c")
        def c(self, ctx: Any) -> None: ...

    assert [s.pattern.text for s in commands_of(Child())] == ["b again", "c"]
    assert [s.pattern.text for s in commands_of(Base())] == ["a", "b"]


def test_same_function_under_two_names_counts_once() -> None:
    class P:
        @command("a")
        def a(self, ctx: Any) -> None: ...

        b = a

    assert [s.name for s in commands_of(P())] == ["a"]


def test_function_still_callable_after_decoration() -> None:
    plugin = Lights()
    assert plugin.toggle("ctx", "hall") == "toggled hall"


BAD_DECORATIONS: list[tuple[dict[str, Any], str, list[str]]] = [
    ({"mode": "exclusvie"}, "x", ["exclusvie", "exclusive", "broadcast", "sequential"]),
    ({"mode": "Broadcast"}, "x", ["Broadcast"]),
    ({"aliases": "show x"}, "x", ["aliases"]),
    ({"aliases": ["show {x"]}, "x", ["unbalanced", "show {x"]),
    ({"runs_on": 3}, "x", ["runs_on"]),
    ({}, "x {nope}", ["nope", "no parameter"]),
    ({}, "x {light:percent}", []),  # fine: the signature has light
]


@pytest.mark.parametrize(("kwargs", "pattern", "words"), BAD_DECORATIONS)
def test_bad_decorations(kwargs: dict[str, Any], pattern: str, words: list[str]) -> None:
    def apply() -> None:
        class P:
            @command(pattern, **kwargs)
            def x(self, ctx: Any, light: Any = None) -> None: ...

    if not words:
        apply()
        return
    with pytest.raises(PatternError) as err:
        apply()
    for w in words:
        assert w in str(err.value), str(err.value)


def test_required_parameter_must_be_filled() -> None:
    with pytest.raises(PatternError, match="'minutes'.*no default.*optional"):

        class P:
            @command("wait [{minutes:int}]")
            def wait(self, ctx: Any, minutes: int) -> None: ...

    with pytest.raises(PatternError, match="'light'.*not in it.*'show lights'"):

        class Q:
            @command("show {light}", aliases=["show lights"])
            def show(self, ctx: Any, light: str) -> None: ...

    class R:  # **kwargs accepts anything
        @command("set {a} {b}")
        def set(self, ctx: Any, **kw: Any) -> None: ...


# --------------------------------------------------------------------------- ambiguity


def test_best_match_prefers_specific_then_first() -> None:
    class P:
        @command("turn {light} {state:on|off}")
        def generic(self, ctx: Any, light: str, state: str) -> None: ...

        @command("turn all lights {state:on|off}")
        def everything(self, ctx: Any, state: str) -> None: ...

        @command("turn {what} off")
        def off(self, ctx: Any, what: str) -> None: ...

    specs = commands_of(P())
    m = best_match("turn all lights off", specs)
    assert m is not None and m.spec is not None and m.spec.name == "everything"
    m = best_match("turn porch off", specs)
    assert m is not None and m.spec is not None and m.spec.name == "off"
    m = best_match("turn porch on", specs)
    assert m is not None and m.spec is not None and m.spec.name == "generic"
    assert best_match("make tea", specs) is None


# --------------------------------------------------------------------------- suggest

SPECS = commands_of(Lights())

SUGGESTIONS = [
    ("togle dining light", ["toggle <light> light"]),
    ("toggle dining ligth", ["toggle <light> light"]),
    ("swich porch of", ["switch <light> [light] on|off [for <minutes> minutes]"]),
    ("dim dining to lots", ["dim <light> [light] to <level>"]),
    ("roll cal", ["roll call"]),
    ("rollcall", ["roll call"]),
    ("updte", ["update [to <version>]"]),
    ("shw lights", ["show lights"]),
    ("hlep", ["help [<topic...>]"]),
    ("what is the meaning of life", []),
    ("status", []),
    ("xyzzy", []),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), SUGGESTIONS)
def test_suggest(text: str, expected: list[str]) -> None:
    assert suggest(text, SPECS) == expected


def test_suggest_n_and_cutoff() -> None:
    many = suggest("toggle dining", SPECS, n=3)
    assert 1 <= len(many) <= 3
    assert many[0] == "toggle <light> light"
    assert len(set(many)) == len(many)
    assert suggest("togle dining light", SPECS, cutoff=1.01) == []
    assert suggest("togle dining light", [], n=3) == []


# --------------------------------------------------------------------------- help


def test_help_text() -> None:
    text = help_text(SPECS)
    lines = text.splitlines()
    assert len(lines) == len(SPECS)
    assert lines[0] == "toggle <light> light — Toggle a light."
    assert lines[1] == (
        "switch <light> [light] on|off [for <minutes> minutes] — "
        "Switch a light on or off, optionally for a while."
    )
    assert lines[-1] == "lights — List the lights."

    class NoDoc:
        @command("ping")
        def ping(self, ctx: Any) -> None:
            pass

    assert help_text(commands_of(NoDoc())) == "ping"
    assert help_text([]) == ""


HELP_TOPICS = [
    ("toggle", "toggle <light> light"),
    ("Toggle", "toggle <light> light"),
    ("roll_call", "roll call"),
    ("roll call", "roll call"),
    ("upgrade", "update [to <version>]"),  # by name
    ("update", "update [to <version>]"),  # by first word of usage
    ("switch", "switch <light>"),
    ("toggle dining room light", "toggle <light> light"),  # the topic is a command
    ("show lights", "lights"),  # an alias
    ("dim <light> [light] to <level>", "dim <light>"),  # a usage pasted back
    ("swich", "switch <light>"),  # a close spelling
    ("teleport", None),
    ("", None),
]


@pytest.mark.parametrize(("topic", "starts"), HELP_TOPICS)
def test_help_for(topic: str, starts: str | None) -> None:
    got = help_for(topic, SPECS)
    if starts is None:
        assert got is None
    else:
        assert got is not None and got.startswith(starts), got


def test_help_for_full_doc_and_aliases() -> None:
    got = help_for("toggle", SPECS)
    assert got == (
        "toggle <light> light\nToggle a light.\n\nSwitches it on if it is off, and off if it is on."
    )
    got = help_for("lights", SPECS)
    assert got is not None
    assert "List the lights." in got
    assert "Also: show lights, list [all] lights" in got



def test_plugin_authors_still_import_everything_from_troupe_commands():
    # Plugins imported these from troupe.commands before the pattern language and help
    # moved out; the names there are the very objects of their new homes.
    moved = {"TYPES": patterns, "Match": patterns, "Pattern": patterns,
             "PatternError": patterns, "best_match": patterns, "help_for": help_module,
             "help_text": help_module, "suggest": help_module}
    for name, home in moved.items():
        assert name in troupe.commands.__all__
        assert getattr(troupe.commands, name) is getattr(home, name), name
