"""The sensors themselves: gpiozero inputs and temperature probes, their readings and events."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# type -> the events it has (the first one is the default `when`)
EVENTS = {
    "motion": ("motion", "no motion"),
    "door": ("open", "closed"),
    "light": ("dark", "light"),
    "temperature": ("above", "below"),
}
MESSAGES = {
    "motion": ":footprints: Motion in the {name}",
    "no motion": ":footprints: No more motion in the {name}",
    "open": ":door: The {name} is open",
    "closed": ":door: The {name} is closed",
    "dark": ":crescent_moon: It is dark in the {name}",
    "light": ":sunny: It is light in the {name}",
    "above": ":thermometer: The {name} is at {value}, above {above} °C",
    "below": ":thermometer: The {name} is at {value}, below {below} °C",
}
W1_DEVICES = Path("/sys/bus/w1/devices")

EventHandler = Callable[["Sensor", str], None]


@dataclass
class SensorSpec:
    """One [sensors.<name>] table, checked (see check.py)."""

    name: str
    type: str
    host: str
    gpio: int | None = None
    device: str = "cpu"
    file: str | None = None
    message: str | None = None
    when: str | None = None
    cooldown: float = 60.0
    run: str | None = None
    above: float | None = None
    below: float | None = None
    interval: float = 60.0

    @classmethod
    def from_config(cls, name: str, body: dict[str, Any]) -> SensorSpec:
        known = {k: v for k, v in body.items() if k in cls.__dataclass_fields__ and k != "name"}
        return cls(name=name, **known)

    def wants(self, event: str) -> bool:
        """Whether `event` should post: temperature posts both crossings; others their `when`."""
        if self.type == "temperature":
            return True
        when = self.when or EVENTS[self.type][0]
        return when == "any" or when == event

    def text(self, event: str, value: str) -> str:
        template = self.message or MESSAGES[event]
        for key, val in (("name", self.name), ("value", value), ("host", self.host),
                         ("above", self.above), ("below", self.below)):
            template = template.replace("{" + key + "}", str(val))
        return template


def read_w1(path: Path) -> float:
    """°C from a 1-wire probe file: `temperature` (millidegrees) or `w1_slave` (CRC + t=)."""
    text = path.read_text()
    if "t=" in text:
        if "YES" not in text.splitlines()[0]:
            raise ValueError(f"{path}: CRC check failed")
        return int(text.rsplit("t=", 1)[1].split()[0]) / 1000
    return int(text.strip()) / 1000


class Sensor:
    """A configured sensor on this Pi; calls `on_event(sensor, event)` when something happens."""

    def __init__(self, spec: SensorSpec, on_event: EventHandler):
        self.spec = spec
        self.on_event = on_event
        self.last_event: tuple[str, float] | None = None

    def _fire(self, event: str) -> None:
        self.last_event = (event, time.time())
        self.on_event(self, event)

    def state(self) -> str:
        raise NotImplementedError

    def reading(self) -> str:
        """A short, human reading; never raises."""
        try:
            text = self.state()
        except Exception as e:  # noqa: BLE001 - a broken probe is a reading, not a crash
            return f"unreadable ({type(e).__name__}: {e})"
        if self.last_event:
            event, at = self.last_event
            text += f" (last {event} {time.strftime('%H:%M:%S', time.localtime(at))})"
        return text

    def close(self) -> None:
        pass


class PinSensor(Sensor):
    """Motion (PIR), door contact (to ground: closed = pressed) or light (LDR + capacitor)."""

    def __init__(self, spec: SensorSpec, on_event: EventHandler):
        super().__init__(spec, on_event)
        import gpiozero

        on, off = EVENTS[spec.type]
        if spec.type == "motion":
            self.device = gpiozero.MotionSensor(spec.gpio)
            self.device.when_motion = lambda: self._fire(on)
            self.device.when_no_motion = lambda: self._fire(off)
        elif spec.type == "door":
            self.device = gpiozero.Button(spec.gpio, pull_up=True)
            self.device.when_released = lambda: self._fire("open")
            self.device.when_pressed = lambda: self._fire("closed")
        else:
            self.device = gpiozero.LightSensor(spec.gpio)
            self.device.when_dark = lambda: self._fire("dark")
            self.device.when_light = lambda: self._fire("light")

    def state(self) -> str:
        if self.spec.type == "motion":
            return "motion" if self.device.motion_detected else "no motion"
        if self.spec.type == "door":
            return "closed" if self.device.is_pressed else "open"
        level = f"{self.device.value:.0%}"
        return f"light ({level})" if self.device.light_detected else f"dark ({level})"

    def close(self) -> None:
        self.device.close()


class Temperature(Sensor):
    """The Pi's CPU (gpiozero CPUTemperature) or a DS18B20 1-wire probe; polled for thresholds."""

    def __init__(self, spec: SensorSpec, on_event: EventHandler):
        super().__init__(spec, on_event)
        self.cpu = None
        self.side: str | None = None  # "above" / "below" / "" (between) once read
        if spec.device == "cpu":
            from gpiozero import CPUTemperature

            self.cpu = CPUTemperature(**({"sensor_file": spec.file} if spec.file else {}))

    def celsius(self) -> float:
        if self.cpu is not None:
            return float(self.cpu.temperature)
        if self.spec.file:
            return read_w1(Path(self.spec.file))
        folder = W1_DEVICES / self.spec.device
        plain = folder / "temperature"
        return read_w1(plain if plain.exists() else folder / "w1_slave")

    def state(self) -> str:
        return f"{self.celsius():.1f} °C"

    def poll(self) -> None:
        """Read once; fire "above"/"below" when a threshold is crossed (not on the first read)."""
        value = self.celsius()
        above, below = self.spec.above, self.spec.below
        side = ("above" if above is not None and value > above
                else "below" if below is not None and value < below else "")
        previous, self.side = self.side, side
        if previous is not None and side and side != previous:
            self._fire(side)

    def close(self) -> None:
        if self.cpu is not None:
            self.cpu.close()


def make_sensor(spec: SensorSpec, on_event: EventHandler) -> Sensor:
    return (Temperature if spec.type == "temperature" else PinSensor)(spec, on_event)
