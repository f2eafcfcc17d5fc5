"""Find plugin classes: bundled ones, installed entry points, and configured folders."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import sys
from importlib import metadata
from types import ModuleType

from troupe.config import Problem
from troupe.plugin import Plugin

BUNDLED_PACKAGE = "troupe_plugins"
ENTRY_POINT_GROUP = "troupe.plugins"


class PluginNotFound(Exception):
    pass


def _classes_in(module: ModuleType) -> list[type[Plugin]]:
    return [
        obj for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Plugin) and obj is not Plugin
        and obj.__module__ == module.__name__
    ]


def bundled_names() -> list[str]:
    package = importlib.import_module(BUNDLED_PACKAGE)
    modules = pkgutil.iter_modules(package.__path__)
    return sorted(m.name for m in modules if not m.name.startswith("_"))


def load_plugin_class(name: str, paths: list[str] = ()) -> type[Plugin]:
    """The plugin class called `name`: from a configured folder, an entry point, or bundled."""
    for folder in paths:
        if folder not in sys.path:
            sys.path.insert(0, folder)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            obj = ep.load()
            return obj if inspect.isclass(obj) else _only_class(obj, name)
    candidates = [f"{BUNDLED_PACKAGE}.{name}"] + ([name] if paths else [])
    for module_name in candidates:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name != module_name:
                raise
            continue
        return _only_class(module, name)
    raise PluginNotFound(name)


def _only_class(module: ModuleType, name: str) -> type[Plugin]:
    classes = _classes_in(module)
    named = [c for c in classes if c.plugin_name() == name]
    if named:
        return named[0]
    if len(classes) == 1:
        return classes[0]
    raise PluginNotFound(name)


def resolve_plugins(raw: dict, enabled: list[str] | None, paths: list[str],
                    ) -> tuple[list[type[Plugin]], list[Problem]]:
    """The classes to run, and problems with `[plugins] enabled`.

    Default (no `enabled`): `core`, plus every bundled plugin whose settings are present.
    """
    problems: list[Problem] = []
    if enabled is None:
        names = ["core"]
        for name in bundled_names():
            if name == "core":
                continue
            try:
                cls = load_plugin_class(name, paths)
            except Exception:  # a broken bundled plugin is reported when enabled explicitly
                continue
            if cls.configured(raw):
                names.append(name)
    else:
        names = list(dict.fromkeys(["core", *enabled]))
    classes = []
    for name in names:
        try:
            classes.append(load_plugin_class(name, paths))
        except PluginNotFound:
            known = ", ".join(bundled_names())
            problems.append(Problem("plugins.enabled", name,
                                    f"a bundled plugin ({known}), an installed one, or a module "
                                    "in [plugins] paths"))
        except Exception as e:  # noqa: BLE001 - an import error is a config problem to report
            problems.append(Problem("plugins.enabled", name, f"a plugin that imports ({e!r})"))
    return classes, problems
