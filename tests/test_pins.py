"""Which pin factory a Pi with GPIO devices gets, and what `check`, the start log and `status`
say about it (issue 16).

Every case runs gpiozero's own factory selection in a real `troupe check` / `troupe run`
process; nothing in gpiozero is patched. What changes is the environment:

- this machine as it is (no Pi, no gpiochip), with and without an importable `lgpio`;
- a "Pi" sandbox: a mount namespace (`unshare`) in which /proc/cpuinfo names a Raspberry
  Pi 3B and /dev/gpiomem is a file, so gpiozero's native factory loads as on a Pi whose venv
  has no pin library. With `lgpio` importable there, gpiozero picks its lgpio factory.

The importable `lgpio` is a stand-in module (FAKE_LGPIO): the real one is a C extension
that needs a /dev/gpiochip*, which no test machine has. gpiozero imports it, reads it and
calls `gpiochip_open` exactly as it would the real one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from troupe.testing import dump_toml

FAKE_LGPIO = '''
"""Stand-in for lgpio's Python module: the names gpiozero's lgpio factory reads."""
SET_BIAS_DISABLE = SET_PULL_NONE = 0
SET_PULL_UP, SET_PULL_DOWN = 1, 2
RISING_EDGE, FALLING_EDGE, BOTH_EDGES = 1, 2, 3
def gpiochip_open(chip): return 3
def gpiochip_close(handle): return 0
'''
PI_SANDBOX = '''
set -e
mount --bind "$SANDBOX/cpuinfo" /proc/cpuinfo
mount -t tmpfs none "$SANDBOX/dev"
for d in null zero urandom random; do
    touch "$SANDBOX/dev/$d"
    mount --bind "/dev/$d" "$SANDBOX/dev/$d"
done
head -c 4096 /dev/zero > "$SANDBOX/dev/gpiomem"
mount --rbind "$SANDBOX/dev" /dev
exec "$@"
'''
PI_3B_CPUINFO = "processor\t: 0\nHardware\t: BCM2835\nRevision\t: a02082\n"
FALLBACK_ENV = ("GPIOZERO_PIN_FACTORY", "PYTHONPATH", "TROUPE_SLACK_BOT_TOKEN",
                "TROUPE_SLACK_APP_TOKEN")
LIGHT = {"lights": {"porch": {"gpio": 17, "host": "pi-1"}}}
DOOR = {"sensors": {"hall": {"type": "door", "gpio": 4, "host": "pi-1"}}}


def write_config(tmp_path: Path, extra: dict) -> Path:
    path = tmp_path / "troupe.toml"
    path.write_text(dump_toml({
        "slack": {"bot_token": "xoxb-1-2-test", "app_token": "xapp-1-A1-2-test",
                  "channel": "home"},
        "host": {"name": "pi-1", "state_dir": str(tmp_path / "state")},
        "auth": {"users": ["U123"]},
        "federation": {"secret": "a-secret-the-pis-of-the-house-share"}, **extra}))
    return path


def environment(tmp_path: Path, *, lgpio: bool = False, factory: str | None = None) -> dict:
    """This process's environment without a chosen factory; `lgpio` importable if asked."""
    env = {k: v for k, v in os.environ.items() if k not in FALLBACK_ENV}
    if lgpio:
        (tmp_path / "site").mkdir(exist_ok=True)
        (tmp_path / "site" / "lgpio.py").write_text(FAKE_LGPIO)
        env["PYTHONPATH"] = str(tmp_path / "site")
    if factory:
        env["GPIOZERO_PIN_FACTORY"] = factory
    return env


def pi_sandbox(tmp_path: Path) -> list[str]:
    """The command prefix that runs a process on a "Pi" (see the module docstring)."""
    box = tmp_path / "pi"
    (box / "dev").mkdir(parents=True, exist_ok=True)
    (box / "cpuinfo").write_text(PI_3B_CPUINFO)
    (box / "enter.sh").write_text(PI_SANDBOX)
    return ["unshare", "--map-root-user", "--mount", "env", f"SANDBOX={box}",
            "sh", str(box / "enter.sh")]


def _sandbox_works() -> bool:
    import tempfile

    if not shutil.which("unshare"):
        return False
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([*pi_sandbox(Path(tmp)), "cat", "/proc/cpuinfo", "/dev/gpiomem"],
                              capture_output=True, text=True)
    return proc.returncode == 0 and "a02082" in proc.stdout


needs_sandbox = pytest.mark.skipif(not _sandbox_works(),
                                   reason="needs unshare with user and mount namespaces")


def check(tmp_path: Path, extra: dict, env: dict, prefix: list[str] = ()):
    path = write_config(tmp_path, extra)
    return subprocess.run([*prefix, sys.executable, "-m", "troupe", "check", "--config",
                           str(path)], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60)


# ---- troupe check ------------------------------------------------------------------------


def test_check_without_any_pin_library_is_an_error(tmp_path):
    proc = check(tmp_path, {**LIGHT, **DOOR}, environment(tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "GPIO (lights.porch (GPIO 17), sensors.hall (GPIO 4))" in proc.stderr
    assert "gpiozero found no pin library" in proc.stderr
    assert "lgpio: No module named 'lgpio'" in proc.stderr
    assert "python3-lgpio" in proc.stderr and "docs/deploy.md" in proc.stderr
    assert "PinFactoryFallback" not in proc.stderr  # gpiozero's warnings become one error


def test_check_names_why_an_importable_lgpio_was_passed_over(tmp_path):
    """lgpio imports, but this machine is no Pi: gpiozero passes over it, and check says why."""
    proc = check(tmp_path, LIGHT, environment(tmp_path, lgpio=True))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "lgpio: unable to locate Pi revision" in proc.stderr


@needs_sandbox
def test_check_on_a_pi_without_lgpio_rejects_the_native_fallback(tmp_path):
    proc = check(tmp_path, LIGHT, environment(tmp_path), pi_sandbox(tmp_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "gpiozero fell back to its native pin factory (no PWM, no Raspberry Pi 5)" \
        in proc.stderr
    assert "lgpio: No module named 'lgpio'" in proc.stderr


@needs_sandbox
def test_check_on_a_pi_with_lgpio_names_it(tmp_path):
    proc = check(tmp_path, {**LIGHT, **DOOR}, environment(tmp_path, lgpio=True),
                 pi_sandbox(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("pin factory lgpio for lights.porch (GPIO 17), sensors.hall (GPIO 4)"
            in proc.stdout), proc.stdout


@pytest.mark.parametrize("factory", ["mock", "troupe_sim"])
def test_check_accepts_a_factory_chosen_on_purpose(tmp_path, factory):
    proc = check(tmp_path, LIGHT, environment(tmp_path, factory=factory))
    assert proc.returncode == 0, proc.stderr
    assert f"pin factory {factory} (GPIOZERO_PIN_FACTORY) for lights.porch (GPIO 17)" \
        in proc.stdout


def test_check_rejects_a_chosen_factory_that_does_not_load(tmp_path):
    proc = check(tmp_path, LIGHT, environment(tmp_path, factory="lgpoi"))
    assert proc.returncode == 2
    assert "GPIOZERO_PIN_FACTORY='lgpoi' did not load" in proc.stderr


def test_check_leaves_pins_alone_on_a_pi_without_gpio_devices(tmp_path):
    """Another Pi's light and a CPU thermometer need no pin library here."""
    proc = check(tmp_path, {"lights": {"porch": {"gpio": 17, "host": "pi-2"}},
                            "sensors": {"cpu": {"type": "temperature", "host": "pi-1"}}},
                 environment(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "pin factory" not in proc.stdout and "GPIO" not in proc.stderr


# ---- troupe run: the start line and `status` ----------------------------------------------


UNSET = {var: None for var in FALLBACK_ENV if var.startswith(("GPIOZERO", "PYTHON"))}


def status(troupe_federation, **kwargs) -> tuple[str, str]:
    """Start pi-1 (a real `troupe run`) with a GPIO light; (its log, its answer to `status`)."""
    fed = troupe_federation(hosts=1, plugins=["core", "lights"], config=LIGHT, **kwargs)
    answer = fed.wait_for_answer(fed.say("status"))["text"]
    return fed.log("pi-1"), answer


def test_a_pi_without_a_pin_library_says_so_at_start_and_in_status(troupe_federation):
    log, answer = status(troupe_federation, env=UNSET)
    start = [line for line in log.splitlines() if "gpiozero found no pin library" in line]
    assert start and " ERROR troupe: pi-1: GPIO (lights.porch (GPIO 17)): " in start[0], log
    assert "PinFactoryFallback" not in log
    assert "GPIO on pi-1: pin factory none for lights.porch (GPIO 17)" in answer
    assert "gpiozero found no pin library" in answer


@needs_sandbox
def test_a_pi_on_the_native_fallback_says_so_at_start_and_in_status(troupe_federation, tmp_path):
    log, answer = status(troupe_federation, env=UNSET, wrapper=pi_sandbox(tmp_path))
    assert " ERROR troupe: pi-1: GPIO (lights.porch (GPIO 17)): gpiozero fell back to its " \
        "native pin factory" in log, log
    assert "GPIO on pi-1: pin factory native (a fallback) for lights.porch (GPIO 17)" in answer
    assert "no PWM, no Raspberry Pi 5" in answer


def test_status_names_a_factory_chosen_on_purpose(troupe_federation):
    log, answer = status(troupe_federation)  # the Federation's hosts run on mock pins
    assert "INFO troupe: pi-1 GPIO pin factory: mock (GPIOZERO_PIN_FACTORY) for " \
        "lights.porch (GPIO 17)" in log
    assert "GPIO on pi-1: pin factory mock (GPIOZERO_PIN_FACTORY) for lights.porch (GPIO 17)" \
        in answer
    assert "warning" not in answer
