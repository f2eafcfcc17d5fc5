"""Wiring helpers for the demo: checked Pi configuration and the house view."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from troupe.demo.house import HUE_LIGHTS, House, slug
from troupe.testing import dump_toml

# -- configuration -------------------------------------------------------------------


def _owner(key: str, sections: dict[str, str]) -> str | None:
    head = key.split(".", 1)[0].split("[", 1)[0]
    return sections.get(head)


def _sections(plugins: list[str]) -> dict[str, str]:
    from troupe.loader import load_plugin_class

    owners: dict[str, str] = {}
    for name in plugins:
        try:
            cls = load_plugin_class(name)
        except Exception:  # noqa: BLE001 - reported by the check as plugins.enabled
            continue
        for section in cls.owned_sections():
            owners[section] = name
    if "scenes" in plugins:
        owners["aliases"] = "scenes"  # the demo's aliases only name scenes
    return owners


def checked_plugin_config(house: House, slack: dict[str, Any], hue: dict[str, str],
                          update: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """The household's plugin settings, with any plugin whose settings fail `troupe check` left out.

    Plugins are being written alongside the demo: one that rejects the demo's
    settings is dropped (and said so) rather than stopping the demo. A problem
    with the core settings is a bug in the demo and raises.
    """
    from troupe.check import check_config
    from troupe.config import ConfigError

    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="troupe-demo-check-") as tmp:
        for _ in range(len(house.plugins) + 1):
            plugin_config = house.plugin_config(hue, update)
            owners = _sections(house.plugins)
            bad: dict[str, list[str]] = {}
            for name in house.host_names:
                path = Path(tmp) / f"{name}.toml"
                path.write_text(dump_toml(house.config_for(name, slack, plugin_config)))
                try:
                    check_config(path)
                except ConfigError as e:
                    for problem in e.problems:
                        owner = (problem.value if problem.key == "plugins.enabled"
                                 else _owner(problem.key, owners))
                        if owner not in house.plugins:
                            raise RuntimeError(f"the demo's own settings are wrong: {e}") from e
                        bad.setdefault(owner, []).append(str(problem))
            if not bad:
                return plugin_config, notes
            for plugin, problems in bad.items():
                house.plugins.remove(plugin)
                notes.append(f"plugin {plugin} left out: " + "; ".join(dict.fromkeys(problems)))
    return house.plugin_config(hue, update), notes


# -- the house as the page shows it -------------------------------------------------------


def _pin(pins: dict[str, dict[str, dict[str, Any]]], host: str, pin: int) -> float | None:
    info = pins.get(host, {}).get(str(pin))
    return None if info is None else float(info["state"])


def house_view(house: House, hue_states: dict[str, dict[str, Any]],
               pins: dict[str, dict[str, dict[str, Any]]], online: set[str]) -> dict[str, Any]:
    """Lights (Hue and GPIO) and sensors, each with its state or None when it cannot be known."""
    lights: list[dict[str, Any]] = []
    for name in HUE_LIGHTS:
        state = hue_states.get(name, {})
        bri = state.get("bri")
        lights.append({
            "key": slug(name), "name": name, "via": "Hue bridge", "kind": "hue",
            "on": state.get("on"), "reachable": state.get("reachable", True),
            "brightness": round(bri * 100 / 254) if isinstance(bri, int) else None,
            "command": f"toggle {slug(name)} light"})
    sensors: list[dict[str, Any]] = []
    for device in house.devices():
        if device.kind == "light" and "lights" not in house.plugins:
            continue
        if device.kind != "light" and "sensors" not in house.plugins:
            continue
        host = device.host(house.hosts)
        state = _pin(pins, host, device.pin) if host in online else None
        base = {"key": slug(device.name), "name": device.name.capitalize(), "host": host,
                "pin": device.pin, "via": f"{host} · GPIO {device.pin}", "kind": device.kind,
                "reachable": state is not None}
        if device.kind == "light":
            lights.append({**base, "kind": "gpio", "on": None if state is None else state > 0,
                           "brightness": None if state is None else round(state * 100),
                           "command": f"toggle {slug(device.name)} light"})
        else:
            active = None if state is None else state >= 1
            sensors.append({**base, "active": active})
    return {"lights": lights, "sensors": sensors}
