"""The troupe_sim pin factory: a gpiozero process whose pins are read and driven over a socket."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from gpiozero import LED, PWMLED, Button
from gpiozero.pins.mock import MockFactory

from troupe.sim.gpio import SOCKET_ENV, GpioClient, SimFactory

# A doorbell wired to a lamp: the button on BCM 4 (pull-up, so pressed = low)
# lights the LED on BCM 17. Exits when its stdin closes.
PI = """
import sys
from gpiozero import LED, Button, Device
led, button = LED(17), Button(4)
button.when_pressed = led.on
button.when_released = led.off
print(type(Device.pin_factory).__name__, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def pi(tmp_path: Path):
    sock = str(tmp_path / "gpio-{pid}.sock")  # one socket per process
    env = {**os.environ, "GPIOZERO_PIN_FACTORY": "troupe_sim", SOCKET_ENV: sock}
    proc = subprocess.Popen(
        [sys.executable, "-c", PI], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "SimFactory"  # loaded by entry point
        yield GpioClient(sock.format(pid=proc.pid))
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_led_and_button_in_another_process(pi: GpioClient) -> None:
    pins = pi.state()
    assert pins[17] == {"state": 0, "function": "output"}
    assert pins[4] == {"state": 1, "function": "input"}  # pulled up: not pressed
    pi.drive(4, 0)  # press
    pi.wait_for(17, 1, timeout=5)
    assert pi.pin(17) == 1
    pi.drive(4, 1)  # release
    pi.wait_for(17, 0, timeout=5)
    with pytest.raises(TimeoutError):
        pi.wait_for(17, 1, timeout=0.2)


def test_outputs_cannot_be_driven_and_bad_requests_get_answers(pi: GpioClient) -> None:
    with pytest.raises(RuntimeError, match="pin 17 is an output"):
        pi.drive(17, 1)
    with pytest.raises(RuntimeError, match="unknown op"):
        pi._request({"op": "explode"})
    assert pi.pin(17) == 0


def test_in_process_subscribers_see_pwm_and_function_changes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(SOCKET_ENV, str(tmp_path / "g.sock"))
    factory = SimFactory()
    try:
        client = GpioClient(tmp_path / "g.sock")
        lamp = PWMLED(18, pin_factory=factory)
        lamp.value = 0.5
        client.wait_for(18, 0.5, timeout=5)
        assert client.state()[18] == {"state": 0.5, "function": "output"}
        lamp.close()
        client.wait_for(18, 0, timeout=5)
        assert client.state()[18]["function"] == "input"
    finally:
        factory.close()


def test_without_a_socket_it_is_a_plain_mock_factory(monkeypatch) -> None:
    monkeypatch.delenv(SOCKET_ENV, raising=False)
    factory = SimFactory()
    try:
        assert isinstance(factory, MockFactory) and factory._server is None
        led, button = LED(22, pin_factory=factory), Button(23, pin_factory=factory)
        led.on()
        factory.pin(23).drive_low()
        assert button.is_pressed and factory.snapshot()["22"]["state"] == 1
    finally:
        factory.close()
