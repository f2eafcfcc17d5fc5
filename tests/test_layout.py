"""The layout keeps the architecture's rules (docs/architecture.md): who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# package name -> folder (plugins/ installs as troupe_plugins)
PACKAGES = {"troupe": ROOT / "troupe", "troupe_plugins": ROOT / "plugins",
            "slackmq": ROOT / "slackmq"}
MAX_RUNTIME_LINES = 600


def _module_name(package: str, folder: Path, path: Path) -> str:
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            found[_module_name(package, folder, path)] = path
    return found


MODULES = modules()


def _imported(name: str, path: Path, top_level_only: bool) -> set[str]:
    """Project modules that `name` imports (at any depth, or only at module level)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    return {name: _imported(name, path, top_level_only) for name, path in MODULES.items()}


def _is_runtime(name: str) -> bool:
    """What runs on a Pi: not the emulators, the demo or the pytest plugin."""
    return not (name.startswith(("troupe.sim", "troupe.demo")) or name == "troupe.testing")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    # A package importing its own submodules (troupe -> troupe.x -> troupe) is how
    # Python packages re-export; a circle is between two files that are not parent and child.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if node.startswith(nxt + ".") or nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_modules_are_found():
    assert {"troupe.core", "slackmq", "troupe_plugins.lights", "troupe.sim.slack"} <= set(MODULES)


def test_no_import_circles_between_files():
    """Not even through imports inside functions, which only hide a circle."""
    assert _cycle(_graph(top_level_only=False)) is None


def test_slackmq_imports_nothing_of_troupe():
    graph = _graph(top_level_only=False)
    leaks = {name: sorted(deps) for name, deps in graph.items()
             if name.startswith("slackmq") and any(not d.startswith("slackmq") for d in deps)}
    assert leaks == {}


def test_the_emulators_never_import_the_demo():
    graph = _graph(top_level_only=False)
    leaks = {name: sorted(d for d in deps if d.startswith("troupe.demo"))
             for name, deps in graph.items() if name.startswith("troupe.sim")}
    assert {k: v for k, v in leaks.items() if v} == {}


def test_the_runtime_never_imports_the_emulators_or_the_demo():
    """At module level: `troupe sim` and `troupe demo` import them lazily, only when asked."""
    graph = _graph(top_level_only=True)
    leaks = {name: sorted(d for d in deps if not _is_runtime(d))
             for name, deps in graph.items() if _is_runtime(name)}
    assert {k: v for k, v in leaks.items() if v} == {}


def test_data_flows_one_way():
    """transport -> core -> guard -> plugin: the core names no plugin, plugins name no transport."""
    graph = _graph(top_level_only=False)
    core = [n for n in graph if n.startswith("troupe") and not n.startswith("troupe_plugins")
            and _is_runtime(n) and n not in ("troupe.cli", "troupe.check")]
    assert {n: sorted(d for d in graph[n] if d.startswith("troupe_plugins")) for n in core
            if any(d.startswith("troupe_plugins") for d in graph[n])} == {}
    plugins = [n for n in graph if n.startswith("troupe_plugins")]
    assert {n: sorted(graph[n] & {"troupe.transport"}) for n in plugins
            if "troupe.transport" in graph[n]} == {}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _is_runtime(n)))
def test_no_runtime_module_is_too_long_to_read(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_RUNTIME_LINES, f"{MODULES[name].relative_to(ROOT)}: {lines} lines"


def test_plugin_helpers_live_in_their_plugins_package():
    """No `_lights_hue.py` beside `lights.py`: a plugin with helpers is a package."""
    assert sorted(p.name for p in (ROOT / "plugins").glob("_*.py") if p.name != "__init__.py") == []
