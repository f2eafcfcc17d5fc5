"""Lights: Philips Hue lights and groups, and relays or LEDs on GPIO pins.

    [hue]
    bridge = "192.168.1.20"     # host or host:port
    username = "..."            # `troupe hue pair` writes it
    [lights.dining]
    hue = "Dining"              # a Hue light or group, by name
    [lights.porch]
    gpio = 17                   # BCM pin ...
    host = "pi-2"               # ... of this Pi
    active_high = true          # optional

Any Pi runs Hue lights (every Pi reaches the bridge); a GPIO light runs only
on its Pi. `for N minutes` is scheduled with Slack, so the switch back happens
even if the Pi that switched the light is gone by then. `lights` gives one
answer, from one read of the Pis' boards: each Pi puts its relays' state on its
board (its one message, edited when a relay changes; troupe/federation.py).
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from gpiozero import GPIOZeroError, OutputDevice

from troupe.commands import CommandSpec, command
from troupe.config import Problem
from troupe.panels import Button, Panel, Row
from troupe.plugin import Context, Plugin
from troupe.text import escape

from .config import Light, read_settings
from .hue import Hue, LightError, LightState
from .report import line

MAX_SECONDS = 120 * 86400  # Slack schedules messages up to 120 days ahead
SECONDS = {"minute": 60, "minutes": 60, "second": 1, "seconds": 1}
DIM_PRESETS = (25, 50, 100)  # the panel's dim buttons for a Hue light, in percent


def _buttons(light: Light) -> list[Button]:
    """A light's buttons on the `lights` panel: each runs the command one would type."""
    buttons = [Button("Toggle", f"toggle {light.name} light", "primary"),
               Button("On", f"switch {light.name} on"), Button("Off", f"switch {light.name} off")]
    if light.hue is not None:  # dimmable; a relay is only on or off
        buttons += [Button(f"{level}%", f"dim {light.name} to {level}%") for level in DIM_PRESETS]
    return buttons


def _with_light(handler: Callable[..., None]) -> Callable[..., None]:
    """The handler gets the configured Light; unknown names and LightErrors get an answer."""

    @functools.wraps(handler)
    def run(self: Lights, ctx: Context, light: str, **args: Any) -> None:
        found = self.lights.get(light.casefold())
        if found is None:
            known = ", ".join(x.name for x in self.lights.values()) or "none are configured"
            ctx.failed = True
            ctx.reply(f"I don't know a light called {light!r}. The lights are: {known}.")
            return
        try:
            handler(self, ctx, found, **args)
        except LightError as e:
            ctx.failed = True
            ctx.reply(f"Sorry, {e}.")
        except (OSError, GPIOZeroError) as e:
            if found.gpio is None:
                raise
            ctx.failed = True
            ctx.reply(f"Sorry, the {found.name} light's GPIO {found.gpio} on {self.host.name} "
                      f"failed: {escape(str(e) or type(e).__name__)}.")

    return run


class Lights(Plugin):
    """Hue lights and GPIO relays: toggle, switch (for a while), dim, and list them."""

    name = "lights"
    sections = ("lights", "hue")

    @classmethod
    def check(cls, config: dict[str, Any], host_name: str) -> list[Problem]:
        return read_settings(config)[2]

    @classmethod
    def gpio_pins(cls, config: dict[str, Any], host_name: str) -> list[str]:
        return [f"lights.{light.name} (GPIO {light.gpio})" for light in read_settings(config)[1]
                if light.gpio is not None and light.host == host_name]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        hue, lights, _ = read_settings(self.config)
        self.lights = {light.key: light for light in lights}
        self.hue = Hue(hue["bridge"], hue["username"])
        self.outputs: dict[str, OutputDevice] = {}
        self.broken: dict[str, str] = {}
        self._since: dict[str, float] = {}  # this Pi's relays: when each last changed
        self._board_lock = threading.Lock()

    def start(self) -> None:
        for light in self.lights.values():
            if light.gpio is not None and light.host == self.host.name:
                try:
                    device = OutputDevice(light.gpio, active_high=light.active_high,
                                          initial_value=False)
                except Exception as e:  # noqa: BLE001 - told to whoever uses the light
                    self.log.error("%s: cannot open GPIO %s for the %s light: %s",
                                   self.host.name, light.gpio, light.name, e)
                    self.broken[light.key] = f"{type(e).__name__}: {e}"
                    continue
                self.outputs[light.key] = self.host.devices[light.name] = device
        if any(light.host == self.host.name for light in self.lights.values()):
            self._publish()

    def _publish(self, changed: Light | None = None) -> None:
        """Put this Pi's relays on its board (before the answer, so a `lights` typed after
        it reads the new state). The newest state wins: computed under the lock."""
        with self._board_lock:
            if changed is not None:
                self._since[changed.key] = time.time()
            states = {}
            for light in self.lights.values():
                if light.host == self.host.name:
                    try:
                        state = "on" if self._output(light).value else "off"
                    except LightError as e:
                        state = f"unknown: {e}"
                    states[light.key] = {"state": state, "since": round(
                        self._since.setdefault(light.key, time.time()))}
            try:
                self.host.board(lights=states)
            except Exception as e:  # noqa: BLE001 - the next change tries again
                self.log.warning("%s could not put its lights on its board: %s",
                                 self.host.name, e)

    def stop(self) -> None:
        for key, device in self.outputs.items():
            self.host.devices.pop(self.lights[key].name, None)
            device.close()
        self.outputs.clear()

    # ---- who runs what ------------------------------------------------------
    def wired_here(self, args: dict[str, Any]) -> bool:
        """A GPIO light runs on its own Pi; Hue lights and unknown names on any."""
        light = self.lights.get(str(args.get("light", "")).casefold())
        return light is None or light.host is None or light.host == self.host.name

    def runs_anywhere(self, spec: CommandSpec, args: dict[str, Any]) -> bool:
        """Hue lights (and unknown names, answered by anyone) are for any Pi: the Pis then
        claim in their agreed order, one pin per command."""
        light = self.lights.get(str(args.get("light", "")).casefold())
        return light is None or light.host is None

    def home_of(self, spec: CommandSpec, args: dict[str, Any]) -> str | None:
        """The Pi a command must run on (a GPIO light's), or None: any Pi. A scene sends a
        Pi's steps to it in one message."""
        light = self.lights.get(str(args.get("light", "")).casefold())
        return light.host if light is not None else None

    def device_of(self, spec: CommandSpec, args: dict[str, Any]) -> str | None:
        """The light a command acts on: a scene switches different lights together."""
        light = self.lights.get(str(args.get("light", "")).casefold())
        return f"light {light.key}" if light is not None else None

    def unavailable_reason(self, spec: CommandSpec, args: dict[str, Any]) -> str:
        light = self.lights.get(str(args.get("light", "")).casefold())
        if light is not None and light.host:
            return f"the {light.name} light is wired to {light.host}, which did not answer"
        return "no Pi that can run it answered"

    # ---- commands --------------------------------------------------------------
    @command("toggle {light} light", runs_on=wired_here, idempotent=False)
    @_with_light
    def toggle(self, ctx: Context, light: Light) -> None:
        """Switch a light on if it is off, off if it is on: `toggle dining light`."""
        if light.hue is not None:
            on = self.hue.toggle(light.hue)
        else:
            self._output(light).toggle()
            on = bool(self._output(light).value)
            self._publish(light)
        ctx.reply(f"The {light.name} light is {'on' if on else 'off'}.")

    @command("switch {light} [light] {state:on|off} "
             "[for {n:int} {unit:minute|minutes|second|seconds}]",
             runs_on=wired_here, idempotent=True)
    @_with_light
    def switch(self, ctx: Context, light: Light, state: str, n: int | None = None,
               unit: str = "minutes") -> None:
        """Switch a light on or off, or for a while: `switch porch on for 10 minutes`."""
        seconds = None if n is None else n * SECONDS[unit]
        if seconds is not None and not 0 < seconds <= MAX_SECONDS:
            ctx.reply(f"`for {n} {unit}` is not a time I can schedule: give 1 second to 120 days.")
            return
        self._set(light, state == "on")
        if seconds is None:
            ctx.reply(f"The {light.name} light is {state}.")
            return
        back = "off" if state == "on" else "on"
        post_at = math.ceil(time.time() + seconds)
        try:
            self.host.schedule_command(f"switch {light.name} {back}", post_at,
                                       on_behalf_of=ctx.user)
        except Exception as e:  # noqa: BLE001 - the light did switch: say what did not happen
            self.log.exception("%s could not schedule switching %s %s", self.host.name,
                               light.name, back)
            ctx.reply(f"The {light.name} light is {state}, but I could not schedule switching "
                      f"it {back} again ({type(e).__name__}: {e}). Switch it {back} yourself.")
            return
        clock = time.strftime("%H:%M" if seconds >= 60 else "%H:%M:%S", time.localtime(post_at))
        ctx.reply(f"The {light.name} light is {state} for {n} {unit}: "
                  f"it switches {back} at {clock}.")

    @command("dim {light} [light] to {level:percent}", idempotent=True)
    @_with_light
    def dim(self, ctx: Context, light: Light, level: int) -> None:
        """Dim a Hue light or group: `dim dining to 40%` (0% switches it off)."""
        if light.hue is None:
            raise LightError(f"the {light.name} light is a relay ({light.where}): it can only "
                             "be switched on or off")
        self.hue.dim(light.hue, level)
        ctx.reply(f"The {light.name} light is {f'at {level}%' if level else 'off'}.")

    @command("lights", aliases=["show lights"], idempotent=True)
    def show(self, ctx: Context) -> None:
        """Every light and whether it is on, in one answer (with buttons: troupe.panels)."""
        if not self.lights:
            ctx.reply("No lights are configured: add [lights.<name>] tables to troupe.toml.")
            return
        panel = self.panel("lights")
        assert panel is not None
        ctx.panel(panel)

    def panel(self, name: str) -> Panel | None:
        """The `lights` panel as it is now: each light's line and its buttons (toggle, on,
        off; dim presets for a Hue light)."""
        if name != "lights" or not self.lights:
            return None
        lines = self._local_lines()
        remote = {light.host for light in self.lights.values()
                  if light.host not in (None, self.host.name)}
        boards = self.host.boards() if remote else {}  # one read of the other Pis' boards
        for key, light in self.lights.items():
            if key not in lines:
                said = (boards.get(light.host or "") or {}).get("lights", {}).get(key) or {}
                since = time.strftime("%H:%M", time.localtime(said.get("since") or 0))
                lines[key] = line(light.name, f"{said['state']} ({light.where}, since {since})"
                                  if said.get("state") else
                                  f"unknown: nothing from {light.host} on its board")
        rows = [Row(escape(lines[key]), _buttons(light)) for key, light in self.lights.items()]
        text = "Lights:\n" + "\n".join(lines[key] for key in self.lights)
        return Panel("lights", "Lights", rows, host=self.host.name, text=text)

    # ---- helpers -------------------------------------------------------------------
    def _output(self, light: Light) -> OutputDevice:
        if light.key in self.broken:
            raise LightError(f"the {light.name} light's pin could not be opened on "
                             f"{self.host.name} ({self.broken[light.key]})")
        return self.outputs[light.key]

    def _set(self, light: Light, on: bool) -> None:
        if light.hue is not None:
            self.hue.set(light.hue, {"on": on})
        elif bool(self._output(light).value) != on:
            self._output(light).value = on
            self._publish(light)

    def _local_lines(self, hue: bool = True) -> dict[str, str]:
        """Lines for the Hue lights (if `hue`) and this Pi's GPIO lights."""
        out: dict[str, str] = {}
        hue_lights = [light for light in self.lights.values() if light.hue is not None]
        states: dict[str, LightState | LightError] = {}
        if hue and hue_lights:
            try:
                states = self.hue.states([light.hue for light in hue_lights if light.hue])
            except LightError as e:
                states = {light.hue: e for light in hue_lights if light.hue}
        for light in self.lights.values():
            if light.hue is not None and light.hue in states:
                state = states[light.hue]
                out[light.key] = line(light.name, f"unknown: {state}" if isinstance(
                    state, LightError) else f"{state} (Hue)")
            elif light.host == self.host.name:
                try:
                    on = bool(self._output(light).value)
                    out[light.key] = line(light.name, f"{'on' if on else 'off'} ({light.where})")
                except LightError as e:
                    out[light.key] = line(light.name, f"unknown: {e}")
        return out
