"""Scenes: named lists of commands, run by `scene <name>` or an alias.

Configuration::

    [scenes.goodnight]
    steps = ["switch dining off", "switch porch on for 10 minutes"]
    description = "Lights down for the night"      # optional, shown by `scenes`

    [aliases]
    goodnight = "scene goodnight"                   # aliases are a core feature

How a scene runs (`runner.py`, and docs/scenes.md): `scene <name>` is one
exclusive command, so one Pi claims it and runs, in order, every step it can
run itself (Hue lights, anything any Pi can run), without posting them; steps on
different lights go out together. Steps only another Pi can run (its GPIO relay)
go to that Pi in one message per Pi, in the scene's thread. The scene has one
answer, edited as it goes ("Goodnight: 12 of 12 done in 0.4 s", failures named),
whose metadata keeps its progress: a Pi that takes the scene over goes on after
the last step known done. A step may itself be `scene <other>` (run inline);
`troupe check` refuses a scene that reaches itself.

`troupe check` reports, by key (`scenes.goodnight.steps`): steps that are not
a non-empty list of strings, a step no enabled plugin knows (with a "did you
mean"), a `scene x` step naming an unknown scene, and cycles.
`KnownCommands` does the command check for other plugins too (sensors' `run`).
"""

from __future__ import annotations

from typing import Any

from troupe.commands import CommandSpec, Pattern, command, commands_of, suggest
from troupe.config import MISSING, Checker, Problem
from troupe.loader import resolve_plugins
from troupe.panels import Button, Panel, Row
from troupe.plugin import Context, Plugin
from troupe.text import escape

from .runner import PART, SceneRun, match_steps

SCENE_STEP = Pattern("scene {name:rest}")


def scene_key(name: str) -> str:
    """How scene names compare: case and spacing do not matter."""
    return " ".join(name.lower().split())


class KnownCommands:
    """The commands a configuration's enabled plugins understand, for checking settings."""

    def __init__(self, raw: dict[str, Any]):
        table = raw.get("aliases")
        self.aliases = {scene_key(k): v.strip() for k, v in (table or {}).items()
                        if isinstance(v, str)} if isinstance(table, dict) else {}
        scenes = raw.get("scenes")
        self.scenes = {scene_key(k) for k in scenes} if isinstance(scenes, dict) else set()
        plugins = raw.get("plugins") if isinstance(raw.get("plugins"), dict) else {}
        enabled = plugins.get("enabled")
        paths = [p for p in plugins.get("paths") or [] if isinstance(p, str)]
        try:
            classes, problems = resolve_plugins(
                raw, enabled if isinstance(enabled, list) else None, paths)
        except Exception:  # noqa: BLE001 - the core reports broken plugins itself
            classes, problems = [], [None]
        # With a plugin missing its commands are unknown: check nothing rather than guess.
        self.specs: list[CommandSpec] | None = (
            None if problems else [s for cls in classes for s in commands_of(cls)])
        self.has_scenes = any(cls.plugin_name() == "scenes" for cls in classes)

    def expand(self, text: str) -> str:
        """The command `text` means once a configured alias is expanded (as the core does)."""
        return self.aliases.get(scene_key(text.rstrip(".!")), text)

    def problem(self, key: str, text: Any) -> Problem | None:
        """What is wrong with `text` as a command to run, or None."""
        if not isinstance(text, str) or not text.strip():
            return Problem(key, text if text is not None else MISSING,
                           "a command, such as \"switch porch on\" or \"scene goodnight\"")
        full = self.expand(text)
        ref = SCENE_STEP.match(full)
        if ref is not None and self.has_scenes:
            name = scene_key(ref.args["name"])
            if name not in self.scenes:
                known = ", ".join(sorted(self.scenes)) or "none configured"
                return Problem(key, text, f"a configured scene (known: {known})")
            return None
        if self.specs is None or any(spec.match(full) for spec in self.specs):
            return None
        guesses = suggest(full, self.specs)
        hint = f" (did you mean `{guesses[0]}`?)" if guesses else ""
        return Problem(key, text, "a command one of the enabled plugins knows" + hint)

    def scene_ref(self, text: str) -> str | None:
        """The scene a step runs, if it is `scene <name>` (or an alias of one)."""
        ref = SCENE_STEP.match(self.expand(text))
        return scene_key(ref.args["name"]) if ref else None


def _cycles(graph: dict[str, list[str]]) -> list[str]:
    """Scenes that reach themselves through `scene x` steps."""
    looping = []
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            name = todo.pop()
            if name == start:
                looping.append(start)
                break
            if name not in seen:
                seen.add(name)
                todo += graph.get(name, [])
    return looping


class Scenes(Plugin):
    """Named lists of commands: `scene goodnight`."""

    name = "scenes"

    @classmethod
    def check(cls, config: dict[str, Any], host_name: str) -> list[Problem]:
        table = config.get("scenes", {})
        if not isinstance(table, dict):
            return [Problem("scenes", table, "tables such as [scenes.goodnight]")]
        known = KnownCommands(config)
        problems: list[Problem] = []
        graph: dict[str, list[str]] = {}
        keys: dict[str, str] = {}
        for name, body in table.items():
            if not isinstance(body, dict):
                problems.append(Problem(f"scenes.{name}", body,
                                        "a table with steps = [\"command\", ...]"))
                continue
            check = Checker(body, f"scenes.{name}")
            steps = check.get("steps", list, "a non-empty list of commands, such as "
                              "[\"switch dining off\", \"switch porch on\"]",
                              valid=lambda v: bool(v) and all(isinstance(s, str) for s in v))
            check.get("description", str, "a short text", default="")
            check.unknown_keys(["steps", "description"])
            problems += check.problems
            keys[scene_key(name)] = f"scenes.{name}.steps"
            for i, step in enumerate(steps or []):
                found = known.problem(f"scenes.{name}.steps[{i}]", step)
                if found:
                    problems.append(found)
            graph[scene_key(name)] = [r for r in map(known.scene_ref, steps or []) if r]
        for name in _cycles(graph):
            problems.append(Problem(keys[name], table_name(table, name),
                                    "steps that do not run the scene itself again "
                                    "(directly or through another scene)"))
        return problems

    def _scenes(self) -> dict[str, tuple[str, list[str], str]]:
        """key -> (name as configured, steps, description)."""
        return {scene_key(name): (name, list(body.get("steps", [])), body.get("description", ""))
                for name, body in self.settings.items() if isinstance(body, dict)}

    def _known(self) -> str:
        names = [name for name, _, _ in self._scenes().values()]
        return ", ".join(f"`{n}`" for n in sorted(names)) or "none (add [scenes.<name>] tables)"

    # idempotent to the guard: a Pi that takes it over goes on from the scene's record
    # (runner.py), so a step that is not idempotent is reported, never run twice.
    @command("scene [{name:rest}]", idempotent=True)
    def scene(self, ctx: Context, name: str | None = None) -> None:
        """Run a scene's steps, each once, in one answer: `scene goodnight`."""
        found = self._scenes().get(scene_key(name or ""))
        if found is None:
            what = f"No scene called `{name}`." if name else "Which scene?"
            ctx.reply(f"{what} Known scenes: {self._known()}.")
            return
        label = found[0][:1].upper() + found[0][1:]
        self._run(ctx, scene_key(name or ""), label)

    @command(PART.format(steps="{steps:word}", host="{host:word}", name="{name:rest}"),
             runs_on=lambda self, args: args["host"] == self.host.name, idempotent=True,
             internal=True)
    def part(self, ctx: Context, steps: str, host: str, name: str) -> None:
        """The steps of a scene that only this Pi can run (its GPIO relays), sent by the
        scene's Pi in one message: `scene steps 5,8 for pi-2 of goodnight`."""
        key = scene_key(name)
        found = self._scenes().get(key)
        try:
            covered = {int(n) - 1 for n in steps.split(",")}
        except ValueError:
            covered = set()
        if found is None or not covered or not covered <= set(range(len(self.flatten(key)))):
            raise ValueError(f"scene {name} has no steps {steps} here (do the Pis' [scenes] "
                             "tables differ?)")
        self._run(ctx, key, found[0][:1].upper() + found[0][1:], covered)

    def unavailable_reason(self, spec: Any, args: dict[str, Any]) -> str:
        return f"{args.get('host', 'its Pi')} did not answer"

    def flatten(self, key: str, seen: frozenset[str] = frozenset()) -> list[str]:
        """The steps of a scene, nested scenes inline (in order)."""
        scenes, out = self._scenes(), []
        aliases = self._aliases()
        for step in scenes[key][1] if key in scenes else []:
            ref = SCENE_STEP.match(aliases.get(scene_key(step.rstrip(".!")), step))
            inner = scene_key(ref.args["name"]) if ref else None
            if inner in scenes and inner not in seen | {key}:
                out += self.flatten(inner, seen | {key})
            else:
                out.append(step)
        return out

    def _aliases(self) -> dict[str, str]:
        table = self.config.get("aliases")
        return {scene_key(k): v.strip() for k, v in table.items()
                if isinstance(v, str)} if isinstance(table, dict) else {}

    def _run(self, ctx: Context, key: str, label: str, covered: set[int] | None = None) -> None:
        troupe = self.config.get("troupe", {}) if isinstance(self.config, dict) else {}
        lease, no_taker = float(troupe.get("lease", 30)), float(troupe.get("no_taker_wait", 3))
        steps = match_steps(self.host, self._aliases(), self.flatten(key))
        # Wait for other Pis' steps while the claim is surely ours (well inside its lease).
        SceneRun(ctx, key, label, steps, covered, wait=min(0.6 * lease, no_taker + 3)).run()

    @command("scenes", idempotent=True)
    def list_scenes(self, ctx: Context) -> None:
        """List the scenes and their steps."""
        scenes = sorted(self._scenes().values())
        if not scenes:
            ctx.reply("No scenes configured: add [scenes.<name>] tables with steps = [...].")
            return
        panel = self.panel("scenes")
        assert panel is not None
        ctx.panel(panel)

    def panel(self, name: str) -> Panel | None:
        """The `scenes` list as a panel: each scene with a Run button (`scene <name>`)."""
        scenes = sorted(self._scenes().values())
        if name != "scenes" or not scenes:
            return None
        lines = [f"`{name}`{f' ({about})' if about else ''}: " + "; ".join(steps)
                 for name, steps, about in scenes]
        rows = [Row(escape(line), [Button("Run", f"scene {name}", "primary")])
                for line, (name, _, _) in zip(lines, scenes, strict=True)]
        return Panel("scenes", "Scenes", rows, host=self.host.name,
                     text="Scenes:\n" + "\n".join(lines))


def table_name(table: dict[str, Any], key: str) -> str:
    """The scene name as configured, for a normalised key."""
    return next((name for name in table if scene_key(name) == key), key)
