"""`troupe check`: the whole configuration, core and plugins, checked before anything connects."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from troupe.config import Config, ConfigError, Problem, parse_config, read_toml
from troupe.loader import bundled_names, load_plugin_class, resolve_plugins
from troupe.pins import PinFactory, choose
from troupe.plugin import Plugin


@dataclass
class Checked:
    config: Config
    plugins: list[type[Plugin]]
    warnings: list[str] = field(default_factory=list)  # allowed, but probably not meant
    gpio: list[str] = field(default_factory=list)  # this Pi's GPIO pins, "lights.porch (GPIO 17)"
    pins: PinFactory | None = None  # the pin factory they get: see choose_pins

    def choose_pins(self) -> PinFactory | None:
        """Let gpiozero choose this process's pin factory if this Pi has GPIO pins (a
        process-wide choice, so only `troupe check` and `troupe run` make it)."""
        self.pins = choose() if self.gpio else None
        return self.pins

    @property
    def gpio_problem(self) -> str | None:
        """Why this Pi's GPIO devices would not get real pins (an error for `troupe check`)."""
        if self.pins is None or self.pins.problem is None:
            return None
        return f"GPIO ({', '.join(self.gpio)}): {self.pins.problem}"


def config_warnings(config: Config) -> list[str]:
    """What the configuration allows that an owner most likely did not mean to."""
    if not config.auth_users:
        return ["auth.users is empty: every person in the channel may give commands, "
                "update and rollback included; list the Slack user IDs (U...) allowed, "
                "such as users = [\"U0123ABCD\"]"]
    return []


def _name_disabled_plugins(problems: list[Problem], enabled: list[type[Plugin]],
                           paths: list[str]) -> list[Problem]:
    """An unknown section that a bundled plugin owns says to enable that plugin."""
    owners = {}
    for name in bundled_names():
        try:
            cls = load_plugin_class(name, paths)
        except Exception:  # noqa: BLE001 - a broken plugin is reported when it is enabled
            continue
        if cls not in enabled:
            owners.update(dict.fromkeys(cls.owned_sections(), name))
    return [Problem(p.key, p.value, f"the {owners[p.key]} plugin enabled to use it: add "
                                    f"\"{owners[p.key]}\" to [plugins] enabled")
            if p.key in owners and p.expected.startswith("a known section") else p
            for p in problems]


def check_config(path: str | os.PathLike, env: Mapping[str, str] | None = None) -> Checked:
    """Read and check `path`; raise ConfigError listing every problem found."""
    raw = read_toml(path)
    plugins_table = raw.get("plugins") if isinstance(raw.get("plugins"), dict) else {}
    enabled = plugins_table.get("enabled")
    paths = plugins_table.get("paths") or []
    base = os.path.dirname(os.path.abspath(path))
    paths = [os.path.join(base, p) for p in paths if isinstance(p, str)]
    classes, problems = resolve_plugins(raw, enabled if isinstance(enabled, list) else None, paths)
    sections = [s for cls in classes for s in cls.owned_sections()]
    config, core_problems = parse_config(raw, env=env, path=str(path), plugin_sections=sections)
    problems = _name_disabled_plugins(core_problems, classes, paths) + problems
    host_name = config.host_name if config else ""
    for cls in classes:
        try:
            problems += cls.check(raw, host_name)
        except Exception as e:  # noqa: BLE001 - a plugin's checker must not hide other problems
            problems.append(Problem(cls.plugin_name(), "(settings)", f"checkable settings ({e!r})"))
    if problems or config is None:
        raise ConfigError(problems, path)
    gpio = [pin for cls in classes for pin in cls.gpio_pins(raw, config.host_name)]
    return Checked(config, classes, config_warnings(config), gpio)
