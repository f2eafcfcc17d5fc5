"""The demo household: which lights and sensors exist, on which Pi, and each Pi's troupe.toml.

Plugins that are not installed (yet) are left out of the configuration, so the
demo runs with whatever the tree has: the core alone is enough for `roll call`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from troupe.federation import new_secret

HUE_LIGHTS = ("Dining", "Lounge", "Bedroom")
HUE_GROUPS = {"Downstairs": ("Dining", "Lounge")}
LEASE_S = 6  # a killed Pi's claim is taken over this long after it pinned
NO_TAKER_WAIT_S = 2


@dataclass(frozen=True)
class GpioDevice:
    """A light (an LED on an output pin) or a sensor (an input pin) wired to one Pi."""

    name: str
    kind: str  # "light" | "motion" | "door"
    pin: int
    slot: int  # the n-th Pi it is wired to; folded onto the Pis there are

    def host(self, hosts: int) -> str:
        return f"pi-{min(self.slot, hosts)}"


GPIO_DEVICES = (
    GpioDevice("porch", "light", 17, 2),
    GpioDevice("garden", "light", 27, 3),
    GpioDevice("driveway", "motion", 4, 1),
    GpioDevice("front door", "door", 22, 3),
)
SENSOR_EXTRAS: dict[str, dict[str, Any]] = {
    "driveway": {"run": "switch porch on for 20 seconds", "cooldown": 5},
    "front door": {"cooldown": 3},
}

SCENES = {
    "goodnight": {"steps": ["switch dining off", "switch lounge off", "switch porch on"],
                  "description": "downstairs off, porch on"},
    "dinner": {"steps": ["switch dining on", "dim dining to 60%", "switch lounge off"],
               "description": "dining table lit"},
}
ALIASES = {"goodnight": "scene goodnight"}

# What the page suggests typing, with what each shows. Commands of plugins not present are hidden.
HINTS = (
    ("toggle dining light", "one Pi pins it, switches the light, marks it done", "lights"),
    ("roll call", "one Pi answers for the house: each Pi's version, from its board", "core"),
    ("toggle porch light", "only the Pi wired to the porch answers", "lights"),
    ("dim lounge to 30%", "brightness on a Hue light", "lights"),
    ("goodnight", "an alias for a scene: one Pi runs its steps, one answer", "scenes"),
    ("switch garden on for 10 seconds", "Slack itself posts the switch back", "lights"),
    ("in 15 seconds toggle dining light", "a schedule: Slack posts it, whichever Pis live",
     "schedules"),
    ("lights", "one answer gathered from every Pi", "lights"),
    ("sensors", "readings from the Pis the sensors are wired to", "sensors"),
    ("help", "every command the Pis know", "core"),
)


def plugin_available(name: str) -> bool:
    """Whether the bundled plugin `name` is in this tree."""
    return importlib.util.find_spec(f"troupe_plugins.{name}") is not None


def sim_gpio_available() -> bool:
    """Whether gpiozero can load the `troupe_sim` pin factory (pins shared over a socket)."""
    return any(ep.name == "troupe_sim" for ep in entry_points(group="gpiozero_pin_factories"))


def slug(name: str) -> str:
    return name.lower().replace(" ", "_")


@dataclass
class House:
    """The household for `hosts` Pis; `plugins` are the optional plugins to configure."""

    hosts: int
    plugins: list[str] = field(default_factory=list)
    workdir: Path = Path(".")
    secret: str = field(default_factory=new_secret)  # the demo house's federation secret

    @classmethod
    def detect(cls, hosts: int, workdir: Path) -> House:
        wanted = ("lights", "sensors", "scenes", "schedules", "update")
        return cls(hosts, [p for p in wanted if plugin_available(p)], Path(workdir))

    @property
    def host_names(self) -> list[str]:
        return [f"pi-{i}" for i in range(1, self.hosts + 1)]

    def devices(self, kind: str | None = None) -> list[GpioDevice]:
        return [d for d in GPIO_DEVICES if kind is None or d.kind == kind or
                (kind == "sensor" and d.kind != "light")]

    def device(self, name: str) -> GpioDevice | None:
        return next((d for d in GPIO_DEVICES if slug(d.name) == slug(name)), None)

    def hints(self) -> list[dict[str, str]]:
        have = {"core", *self.plugins}
        return [{"text": t, "why": why} for t, why, plugin in HINTS if plugin in have]

    def plugin_config(self, hue: dict[str, str], update: dict[str, Any] | None) -> dict[str, Any]:
        """The plugin sections every Pi shares (each device names the Pi it is wired to)."""
        config: dict[str, Any] = {}
        if "lights" in self.plugins:
            config["hue"] = {"bridge": hue["address"], "username": hue["username"]}
            lights: dict[str, Any] = {slug(n): {"hue": n} for n in HUE_LIGHTS}
            for d in self.devices("light"):
                lights[slug(d.name)] = {"gpio": d.pin, "host": d.host(self.hosts)}
            config["lights"] = lights
        if "sensors" in self.plugins:
            config["sensors"] = {d.name: {"type": d.kind, "gpio": d.pin, "host": d.host(self.hosts),
                                          **self._extras(d.name)}
                                 for d in self.devices("sensor")}
        if "scenes" in self.plugins and "lights" in self.plugins:
            config["scenes"] = {name: dict(body) for name, body in SCENES.items()}
            config["aliases"] = dict(ALIASES)
        if "update" in self.plugins and update:
            config["update"] = dict(update)
        return config

    def _extras(self, sensor: str) -> dict[str, Any]:
        extras = dict(SENSOR_EXTRAS.get(sensor, {}))
        if "lights" not in self.plugins:
            extras.pop("run", None)
        return extras

    def config_for(self, name: str, slack: dict[str, Any], plugin_config: dict[str, Any]
                   ) -> dict[str, Any]:
        """One Pi's whole troupe.toml: its Slack app, the person allowed, the household."""
        app = next(a for a in slack["apps"] if a["name"] == name)
        base: dict[str, Any] = {
            "slack": {"bot_token": app["bot_token"], "app_token": app["app_token"],
                      "channel": slack["channel"]["name"], "api_url": slack["api_url"]},
            "host": {"name": name, "state_dir": str(self.workdir / "state")},
            "auth": {"users": [slack["user"]["id"]]},
            "federation": {"secret": self.secret},
            "troupe": {"lease": LEASE_S, "no_taker_wait": NO_TAKER_WAIT_S},
            "plugins": {"enabled": [p for p in self.plugins
                                    if p != "scenes" or "lights" in self.plugins]},
        }
        if "update" in plugin_config:
            root = self.release_root(name)
            root.mkdir(parents=True, exist_ok=True)  # as deploy/install.sh does: check wants it
            base["update"] = update_settings(plugin_config["update"], root)
        return {**plugin_config, **base}

    def release_root(self, name: str) -> Path:
        """Where a Pi keeps its side-by-side releases (like /opt/troupe; [update] root)."""
        return self.workdir / name / "opt-troupe"



def update_settings(source: dict[str, Any], root: Path) -> dict[str, Any]:
    """One Pi's [update] table: where versions come from, where its releases live.

    The hook for the update plugin (written separately): `source` is
    `LocalSource.update_config()` (a git repository in the demo's workdir with
    two version tags); releases are built against the demo's own packages, with
    no network. The demo's supervisor plays systemd: a Pi that exits with
    status 75 is started again at once from `root/current/venv/bin/python`
    (see troupe.demo.hosts.release_python).
    """
    return {**source, "root": str(root), "reuse_site_packages": True}
