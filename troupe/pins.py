"""Which gpiozero pin factory this process got, and whether that is real GPIO.

gpiozero picks its pin factory once per process: the one named in
``GPIOZERO_PIN_FACTORY``, else the first of lgpio, rpigpio, pigpio and native
that loads, with only a warning for each one passed over. A Pi whose venv has
no pin library so ends up on the native factory (no PWM, no Raspberry Pi 5) or
on none at all, and nothing says so. `choose` makes that choice with gpiozero's
own code, keeps what its warnings said, and judges it: a library that drives
the pins (lgpio, rpigpio, pigpio) is fine; a factory chosen on purpose (the
variable, or one the program set, as tests do with MockFactory) is fine; a
fallback to native or mock, or no factory, is a problem on a Pi with GPIO
devices (`troupe check` fails, `troupe run` logs it as an error).

The choice is process-wide, like gpiozero's ``Device.pin_factory``; so is the
record of how it was made (`chosen`), which `status` reports.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

ENV = "GPIOZERO_PIN_FACTORY"
REAL = ("lgpio", "rpigpio", "pigpio")  # libraries that drive a Pi's pins, PWM included
HINT = "install the pin library: sudo apt-get install python3-lgpio (docs/deploy.md, \"GPIO\")"


@dataclass(frozen=True)
class PinFactory:
    """How gpiozero's pin factory was chosen in this process."""

    name: str | None  # entry-point name ("lgpio", "native", "mock", "troupe_sim"); None: none
    how: str  # "default" (gpiozero's own order), "GPIOZERO_PIN_FACTORY", "set by the program"
    passed_over: tuple[str, ...] = ()  # gpiozero's reasons, "lgpio: No module named 'lgpio'"
    error: str | None = None  # why no factory loaded
    factory: Any = field(default=None, compare=False, repr=False)

    @property
    def explicit(self) -> bool:
        return self.how != "default"

    @property
    def problem(self) -> str | None:
        """Why GPIO devices would not get real pins, or None."""
        if self.name is None:
            tried = "; ".join(self.passed_over) or self.error or "nothing loaded"
            if self.explicit:
                return f"{ENV}={os.environ.get(ENV, '')!r} did not load ({self.error})"
            return f"gpiozero found no pin library ({tried}); {HINT}"
        if self.explicit or self.name in REAL:
            return None
        why = "; ".join(self.passed_over)
        limits = " (no PWM, no Raspberry Pi 5)" if self.name == "native" else ""
        return (f"gpiozero fell back to its {self.name} pin factory{limits}"
                f"{f' because {why}' if why else ''}; {HINT}")

    def describe(self) -> str:
        """One line for `check`, the log and `status`: "lgpio", "mock (GPIOZERO_PIN_FACTORY)"."""
        if self.name is None:
            return "none"
        if self.how == "default":
            return self.name if self.name in REAL else f"{self.name} (a fallback)"
        return f"{self.name} ({self.how})"


_chosen: PinFactory | None = None


def chosen() -> PinFactory | None:
    """What `choose` found in this process, if it was asked and the factory is still in use."""
    from gpiozero import Device

    if _chosen is not None and _chosen.factory is Device.pin_factory:
        return _chosen
    return None


def choose() -> PinFactory:
    """Let gpiozero choose its pin factory now (its own code and order) and say how it went.

    Call it before any device is made: a factory already set is taken as set on purpose.
    """
    global _chosen
    from gpiozero import Device
    from gpiozero.exc import NativePinFactoryFallback, PinFactoryFallback

    known = chosen()
    if known is not None:
        return known
    if Device.pin_factory is not None:
        _chosen = PinFactory(factory_name(Device.pin_factory), "set by the program",
                             factory=Device.pin_factory)
        return _chosen
    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PinFactoryFallback)
        try:
            Device.ensure_pin_factory()
        except Exception as e:  # noqa: BLE001 - gpiozero raises what the factory raised
            error = f"{type(e).__name__}: {e}"
    passed_over = tuple(
        str(w.message).removeprefix("Falling back from ") for w in caught
        if issubclass(w.category, PinFactoryFallback)
        and not issubclass(w.category, NativePinFactoryFallback))
    # The report says what these warnings said, in one line; a device made later without a
    # factory would have gpiozero try (and warn) all over again.
    warnings.filterwarnings("ignore", category=PinFactoryFallback)
    factory = Device.pin_factory
    _chosen = PinFactory(factory_name(factory) if factory is not None else None,
                         ENV if os.environ.get(ENV) else "default", passed_over, error, factory)
    return _chosen


def factory_name(factory: Any) -> str:
    """The entry-point name of a factory's class (``gpiozero_pin_factories``), else the class."""
    cls = type(factory)
    for klass in cls.__mro__:
        target = f"{klass.__module__}:{klass.__qualname__}"
        for ep in entry_points(group="gpiozero_pin_factories"):
            if ep.value == target:
                return ep.name
    return cls.__name__
