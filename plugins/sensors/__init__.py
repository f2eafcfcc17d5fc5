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

`sensors` (alias `show sensors`), the one-answer design: the readings live on
different Pis, and a Pi may only edit its own messages. So the Pi that wins the
command answers at once with its own readings and "waiting" for each other Pi
that has sensors (from the configuration), and posts the broadcast command
`sensor readings for <itself>` in the answer's thread. Every other Pi with
sensors replies there with its readings.
The answering Pi gathers them (`host.gather`), edits its answer as readings
arrive and, after `answer_wait` seconds, marks any Pi still missing "no answer".
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from troupe.commands import command
from troupe.config import Problem
from troupe.plugin import Context, Plugin

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
            if isinstance(sensor, Temperature) and (spec.above is not None
                                                    or spec.below is not None):
                self.host.scheduler.add_job(self._poll, "interval", seconds=spec.interval,
                                            args=[sensor], next_run_time=datetime.now(),
                                            id=f"sensor-{spec.name}", replace_existing=True)
            # The first reading waits for gpiozero's first sample: from then on a change is an
            # event (gpiozero takes the first sample as the initial state, not as an edge).
            self.log.info("%s sensor %s: %s ready (%s)", self.host.name, spec.name, spec.type,
                          sensor.reading())

    def stop(self) -> None:
        self._poster.shutdown(wait=True)
        for sensor in self.sensors:
            sensor.close()

    def _poll(self, sensor: Temperature) -> None:
        try:
            sensor.poll()
        except Exception as e:  # noqa: BLE001 - logged each time; the reading shows it too
            self.log.warning("%s sensor %s unreadable: %s", self.host.name, sensor.spec.name, e)

    def _on_event(self, sensor: Sensor, event: str) -> None:
        """Called from gpiozero's threads: decide at once, post on the poster thread."""
        spec = sensor.spec
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
        """Every sensor's reading, gathered from the Pis they are wired to, in one answer."""
        hosts = sorted({spec.host for spec in self.specs})
        if not hosts:
            ctx.reply("No sensors configured: add [sensors.<name>] tables (type, host, gpio).")
            return
        got = {self.host.name: self.readings()} if self.host.name in hosts else {}
        others = {h for h in hosts if h != self.host.name}
        ts = ctx.reply(_answer(hosts, got, "waiting…"))
        if not others or not ts:
            return

        def update(answers: dict[str, str]) -> None:
            got.update({h: _lines(text) for h, text in answers.items()})
            self.host.edit(ts, _answer(hosts, got, "waiting…"))

        answers = self.host.gather(f"sensor readings for {self.host.name}", others,
                                   thread_ts=ts, on_behalf_of=ctx.user, wait=self.answer_wait,
                                   on_answer=update)
        if set(answers) < others:
            self.host.edit(ts, _answer(hosts, got, "no answer"))

    @command("sensor readings [for {asker:word}]", mode="broadcast", internal=True)
    def readings_for(self, ctx: Context, asker: str | None = None) -> None:
        """Used by `sensors`: each other Pi with sensors replies with its readings."""
        if not self.sensors or asker == self.host.name:
            return
        ctx.reply(f"Readings from {self.host.name}:\n" + "\n".join(self.readings()),
                  thread=True)


def _lines(answer: str) -> list[str]:
    """The readings in another Pi's answer (its first line names the Pi)."""
    return answer.splitlines()[1:]


def _answer(hosts: list[str], got: dict[str, list[str]], missing: str) -> str:
    lines = ["Sensors:"]
    for host in hosts:
        if host not in got:
            lines.append(f"{host}: {missing}")
        else:
            lines += [f"{host}: {line}" for line in got[host]] or [f"{host}: no sensors started"]
    return "\n".join(lines)
