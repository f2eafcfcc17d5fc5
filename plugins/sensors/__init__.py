"""Sensors: motion, door contacts, light and temperature, each on the Pi it is wired to.

Configuration (one table per sensor)::

    [sensors]
    answer_wait = 5              # optional: seconds `sensors` waits for the other Pis
                                 # (default 5, or half of [troupe] lease if that is shorter)

    [sensors.hallway]
    type = "motion"              # motion | door | light | temperature
    gpio = 4                     # BCM pin (motion, door, light)
    host = "pi-1"                # the Pi it is wired to (required)
    message = ":footprints: Motion in the {name}"    # default per event; {name} {value} {host}
    when = "motion"              # which event posts: motion|no motion, open|closed,
                                 # dark|light, or "any" (default: the first of each pair)
    cooldown = 60                # seconds after a post during which events stay quiet
    run = "scene hallway"        # optional: a command the federation runs after posting

    [sensors.attic]
    type = "temperature"
    host = "pi-2"
    device = "cpu"               # "cpu" (gpiozero CPUTemperature) or a DS18B20 id "28-..."
    file = "/sys/class/thermal/thermal_zone0/temp"   # optional: where to read it
    above = 35                   # optional thresholds: post when the reading crosses them,
    below = 5                    # checked every `interval` seconds (default 60)

Wiring: a door contact goes between its pin and ground (door closed = contact
closed = pressed); motion is a PIR's output; light is an LDR with a capacitor
(gpiozero LightSensor).

Events: only the sensor's own Pi opens it, so only that Pi ever posts its
events (with `host.say`; no lock is needed). The cool-down is per sensor on
that Pi: after a post, further events are logged as quiet until it ends, so a
flapping sensor posts at most once per cool-down. `run` is posted as a
federation command in the event's thread, so it is guarded like a typed one.

`sensors` (alias `show sensors`), the one-answer design: each Pi keeps its
sensors' readings on its board (its one message, edited when a sensor fires an
event, and, for a temperature, when a reading polled every `interval` seconds
has changed; troupe/federation.py). The Pi that wins the command reads its own
sensors and the other Pis' boards (one read, all at once) and answers once: no
broadcast, no replies. A reading from a board says when it was taken.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from troupe.commands import command
from troupe.config import Problem
from troupe.panels import Panel, Row
from troupe.plugin import Context, Plugin
from troupe.text import escape

from .check import SETTINGS, answer_wait, check_sensors
from .devices import Sensor, SensorSpec, Temperature, make_sensor

PIN_TYPES = ("motion", "door", "light")  # the types read from a GPIO pin


class Sensors(Plugin):
    """Motion, doors, light and temperature: events posted by the Pi each is wired to."""

    name = "sensors"

    @classmethod
    def check(cls, config: dict[str, Any], host_name: str) -> list[Problem]:
        return check_sensors(config)

    @classmethod
    def gpio_pins(cls, config: dict[str, Any], host_name: str) -> list[str]:
        table = config.get("sensors") if isinstance(config.get("sensors"), dict) else {}
        return [f"sensors.{name} (GPIO {body['gpio']})" for name, body in table.items()
                if isinstance(body, dict) and body.get("host") == host_name
                and body.get("type") in PIN_TYPES and isinstance(body.get("gpio"), int)]

    def __init__(self, host: Any, settings: dict[str, Any], config: dict[str, Any] | None = None):
        super().__init__(host, settings, config)
        self.specs = [SensorSpec.from_config(name, body) for name, body in settings.items()
                      if name not in SETTINGS and isinstance(body, dict)]
        self.answer_wait = answer_wait(self.config)
        self.sensors: list[Sensor] = []
        self._quiet_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._poster = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sensor-post")
        self._on_board: dict[str, str] = {}  # sensor -> the reading its board last showed

    # ---- this Pi's sensors ----------------------------------------------------
    def start(self) -> None:
        for spec in self.specs:
            if spec.host != self.host.name:
                continue
            try:
                sensor = make_sensor(spec, self._on_event)
            except Exception:  # noqa: BLE001 - one broken sensor must not stop the others
                self.log.exception("%s sensor %s (%s) could not start", self.host.name,
                                   spec.name, spec.type)
                continue
            self.sensors.append(sensor)
            if isinstance(sensor, Temperature):  # thresholds, and its board, kept current
                self.host.scheduler.add_job(self._poll, "interval", seconds=spec.interval,
                                            args=[sensor], next_run_time=datetime.now(),
                                            id=f"sensor-{spec.name}", replace_existing=True)
            # The first reading waits for gpiozero's first sample: from then on a change is an
            # event (gpiozero takes the first sample as the initial state, not as an edge).
            self.log.info("%s sensor %s: %s ready (%s)", self.host.name, spec.name, spec.type,
                          sensor.reading())
        if self.sensors:
            self._publish()

    def stop(self) -> None:
        self._poster.shutdown(wait=True)
        for sensor in self.sensors:
            sensor.close()

    def _poll(self, sensor: Temperature) -> None:
        try:
            if sensor.spec.above is not None or sensor.spec.below is not None:
                sensor.poll()
        except Exception as e:  # noqa: BLE001 - logged each time; the reading shows it too
            self.log.warning("%s sensor %s unreadable: %s", self.host.name, sensor.spec.name, e)
        if self._on_board.get(sensor.spec.name) != sensor.reading():
            self._publish()

    def _publish(self) -> None:
        """Put this Pi's readings on its board (on the poster thread, after any post)."""
        try:
            self._poster.submit(self._write_board)
        except RuntimeError:  # shutting down
            pass

    def _write_board(self) -> None:
        readings = {s.spec.name: s.reading() for s in self.sensors}
        try:
            self.host.board(sensors={name: {"reading": text, "at": round(time.time())}
                                     for name, text in readings.items()})
            self._on_board = readings
        except Exception as e:  # noqa: BLE001 - the next change tries again
            self.log.warning("%s could not put its sensors on its board: %s", self.host.name, e)

    def _on_event(self, sensor: Sensor, event: str) -> None:
        """Called from gpiozero's threads: decide at once, post on the poster thread."""
        spec = sensor.spec
        self._publish()  # every change, posted or not, reaches the board
        if not spec.wants(event):
            self.log.info("%s sensor %s: %s", self.host.name, spec.name, event)
            return
        now = time.monotonic()
        with self._lock:
            left = self._quiet_until.get(spec.name, 0.0) - now
            if left <= 0:
                self._quiet_until[spec.name] = now + spec.cooldown
        if left > 0:
            self.log.info("%s sensor %s: %s, quiet (cool-down, %.0f s left)", self.host.name,
                          spec.name, event, left)
            return
        self.log.info("%s sensor %s: %s, posting", self.host.name, spec.name, event)
        try:
            self._poster.submit(self._post, sensor, event)
        except RuntimeError:  # shutting down
            pass

    def _post(self, sensor: Sensor, event: str) -> None:
        spec = sensor.spec
        try:
            ts = self.host.say(spec.text(event, sensor.reading()))
            if spec.run:
                self.host.post_command(spec.run, thread_ts=ts)
        except Exception:  # noqa: BLE001 - Slack down: the log has it
            self.log.exception("%s sensor %s could not post %s", self.host.name, spec.name, event)

    def readings(self) -> list[str]:
        """This Pi's readings, one line per sensor."""
        return [f"{s.spec.name} ({s.spec.type}): {s.reading()}" for s in self.sensors]

    # ---- commands --------------------------------------------------------------
    @command("sensors", aliases=["show sensors"], idempotent=True)
    def show(self, ctx: Context) -> None:
        """Every sensor's reading, from the Pis' boards, in one answer (a panel that can be
        refreshed in place: troupe.panels)."""
        panel = self.panel("sensors")
        if panel is None:
            ctx.reply("No sensors configured: add [sensors.<name>] tables (type, host, gpio).")
            return
        ctx.panel(panel)

    def panel(self, name: str) -> Panel | None:
        hosts = sorted({spec.host for spec in self.specs})
        if name != "sensors" or not hosts:
            return None
        got = {self.host.name: self.readings()} if self.host.name in hosts else {}
        if set(hosts) - {self.host.name}:
            for host, fields in self.host.boards().items():  # one read of the boards
                said = fields.get("sensors")
                if host in hosts and host != self.host.name and isinstance(said, dict):
                    got[host] = [f"{name} ({self._type(name)}): {r.get('reading')}"
                                 f"{_at(r.get('at'))}" for name, r in said.items()]
        text = _answer(hosts, got, "nothing on its board")
        rows = [Row(escape(line)) for line in text.splitlines()[1:]]
        return Panel("sensors", "Sensors", rows, host=self.host.name, text=text, refresh=True)

    def _type(self, name: str) -> str:
        return next((spec.type for spec in self.specs if spec.name == name), "sensor")


def _at(when: Any) -> str:
    """When a board's reading was taken: ` (read 12:01:05)`."""
    if not isinstance(when, int | float):
        return ""
    return f" (read {time.strftime('%H:%M:%S', time.localtime(when))})"


def _answer(hosts: list[str], got: dict[str, list[str]], missing: str) -> str:
    lines = ["Sensors:"]
    for host in hosts:
        if host not in got:
            lines.append(f"{host}: {missing}")
        else:
            lines += [f"{host}: {line}" for line in got[host]] or [f"{host}: no sensors started"]
    return "\n".join(lines)
