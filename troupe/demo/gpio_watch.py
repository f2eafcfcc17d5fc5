"""The demo's view of each Pi's mock GPIO pins (troupe.sim.gpio's socket protocol, async).

One subscription per Pi keeps `pins` current and reports every change; a
dead Pi's pins are forgotten until it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

PinChange = Callable[[str, dict[str, dict[str, Any]]], None]


class GpioWatch:
    """Follows the pins of one Pi over its $TROUPE_SIM_GPIO_SOCKET."""

    def __init__(self, host: str, socket_path: Path, on_change: PinChange) -> None:
        self.host = host
        self.path = socket_path
        self.on_change = on_change
        self.pins: dict[str, dict[str, Any]] = {}
        self.prepared: set[int] = set()  # input pins set to their resting state since (re)start
        self._task: asyncio.Task[None] | None = None

    def follow(self) -> None:
        """(Re)subscribe: call when the Pi has (re)started."""
        self.stop()
        self.prepared.clear()
        self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def forget(self) -> None:
        """The Pi is gone: its pins are unknown until it comes back."""
        self.stop()
        if self.pins:
            self.pins = {}
            self.on_change(self.host, self.pins)

    async def _run(self) -> None:
        delay = 0.05
        for _ in range(100):  # the socket appears when the Pi builds its first device
            try:
                reader, writer = await asyncio.open_unix_connection(str(self.path))
                break
            except OSError:
                await asyncio.sleep(delay)  # backoff while the Pi starts, not a wait for an event
                delay = min(1.0, delay * 2)
        else:
            return
        try:
            writer.write(b'{"op": "subscribe"}\n')
            await writer.drain()
            async for line in reader:
                event = json.loads(line)
                if "pins" in event:
                    self.pins = event["pins"]
                elif "pin" in event:
                    self.pins = {**self.pins, event["pin"]: {"state": event["state"],
                                                             "function": event["function"]}}
                else:
                    continue
                self.on_change(self.host, self.pins)
        except (OSError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def drive(self, pin: int, value: int) -> None:
        """Drive an input pin high or low, as a person walking past or a door opening would."""
        try:
            reader, writer = await asyncio.open_unix_connection(str(self.path))
        except OSError as e:
            raise RuntimeError(f"{self.host} is not running, so its pins cannot be driven") from e
        try:
            writer.write(json.dumps({"op": "drive", "pin": pin, "value": int(value)}).encode()
                         + b"\n")
            await writer.drain()
            reply = json.loads(await asyncio.wait_for(reader.readline(), 5) or b"{}")
        finally:
            writer.close()
        if "error" in reply:
            raise RuntimeError(f"{self.host} pin {pin}: {reply['error']}")
