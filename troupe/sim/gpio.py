"""A gpiozero pin factory for the emulated household, shared over a UNIX socket.

A Pi process started with ``GPIOZERO_PIN_FACTORY=troupe_sim`` gets
:class:`SimFactory` (entry point ``troupe_sim`` in ``gpiozero_pin_factories``):
gpiozero's ``MockFactory`` whose pins other processes (tests, the demo page)
can read and drive over ``$TROUPE_SIM_GPIO_SOCKET``. Without that variable it
behaves exactly like ``MockFactory``. ``{pid}`` in the path is replaced by the
process id, so several Pi processes sharing one environment (a test's
Federation) each get their own socket. The runtime never imports this module;
gpiozero loads it by entry point only when configured.

Protocol: one JSON object per line each way.

- ``{"op": "state"}`` -> ``{"pins": {"17": {"state": 1, "function": "output"}}}``
- ``{"op": "drive", "pin": 4, "value": 1}`` drives input pin 4 high (0: low)
  -> ``{"ok": true}``; an output pin -> ``{"error": "..."}``
- ``{"op": "subscribe"}`` -> the ``state`` answer now, then one line per change:
  ``{"pin": "17", "state": 0, "function": "output"}`` until the client hangs up.

Pins are keyed by BCM number. States are 0/1 (a PWM duty cycle in between).
Every pin is PWM-capable, so ``PWMLED`` works too.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import socketserver
import threading
import time
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPWMPin

SOCKET_ENV = "TROUPE_SIM_GPIO_SOCKET"


def _bcm(pin: MockPWMPin) -> str:
    """The BCM number of a pin, as the protocol's key ("17")."""
    return pin.info.name.removeprefix("GPIO")


def _value(state: Any) -> int | float:
    state = float(state)
    return int(state) if state in (0.0, 1.0) else state


class SimPin(MockPWMPin):
    """A mock pin that tells its factory whenever its state or function changes."""

    def _change_state(self, value: Any) -> bool:
        changed = super()._change_state(value)
        if changed:
            self.factory._notify(self)
        return changed

    def _set_function(self, value: str) -> None:
        before = self._function
        super()._set_function(value)
        if value != before:
            self.factory._notify(self)


class SimFactory(MockFactory):
    """MockFactory whose pins are served on ``$TROUPE_SIM_GPIO_SOCKET`` (if set)."""

    def __init__(self, revision: str | None = None, pin_class: type | None = None) -> None:
        super().__init__(revision=revision, pin_class=pin_class or SimPin)
        self._subscribers: list[queue.Queue] = []
        self._sub_lock = threading.Lock()
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        path = os.environ.get(SOCKET_ENV)
        if path:
            self._serve(path.replace("{pid}", str(os.getpid())))

    # -- pins as data ---------------------------------------------------------

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every pin this process has touched: {"17": {"state": 1, "function": "output"}}."""
        return {
            _bcm(pin): {"state": _value(pin.state), "function": pin.function}
            for pin in list(self.pins.values())
        }

    def drive(self, number: int, value: int) -> None:
        """Drive input pin `number` high (value 1) or low (0), as the outside world would."""
        pin = self.pin(number)
        if pin.function != "input":
            raise ValueError(f"pin {number} is an {pin.function}, only inputs can be driven")
        if value:
            pin.drive_high()
        else:
            pin.drive_low()

    def _notify(self, pin: MockPWMPin) -> None:
        event = {"pin": _bcm(pin), "state": _value(pin.state), "function": pin.function}
        with self._sub_lock:
            for q in self._subscribers:
                q.put(event)

    # -- socket server --------------------------------------------------------

    def _serve(self, path: str) -> None:
        if os.path.exists(path):
            os.unlink(path)  # a stale socket from a killed process
        factory = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for line in self.rfile:
                    reply = factory._handle(line, self.wfile)
                    if reply is None:
                        return
                    self.wfile.write(json.dumps(reply).encode() + b"\n")
                    self.wfile.flush()

        server = socketserver.ThreadingUnixStreamServer(path, Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="sim-gpio", daemon=True).start()
        self._server = server

    def _handle(self, line: bytes, out: Any) -> dict | None:
        try:
            request = json.loads(line)
            op = request.get("op")
            if op == "state":
                return {"pins": self.snapshot()}
            if op == "drive":
                self.drive(int(request["pin"]), int(request["value"]))
                return {"ok": True}
            if op == "subscribe":
                self._stream(out)
                return None
            return {"error": f"unknown op {op!r} (expected state, drive or subscribe)"}
        except Exception as e:  # every bad request gets an answer
            return {"error": f"{type(e).__name__}: {e}"}

    def _stream(self, out: Any) -> None:
        q: queue.Queue = queue.Queue()
        with self._sub_lock:
            self._subscribers.append(q)
            first = {"pins": self.snapshot()}  # under the lock: no change is lost
        try:
            out.write(json.dumps(first).encode() + b"\n")
            out.flush()
            while self._server is not None:
                try:
                    event = q.get(timeout=1.0)
                except queue.Empty:
                    continue
                out.write(json.dumps(event).encode() + b"\n")
                out.flush()
        except OSError:
            pass  # the subscriber hung up
        finally:
            with self._sub_lock:
                self._subscribers.remove(q)

    def close(self) -> None:
        """Stop serving and close the pins."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        super().close()


class GpioClient:
    """Reads and drives the pins of a Pi process that runs :class:`SimFactory`.

    The socket may appear a little after the process starts (gpiozero builds
    its factory with the first device): requests retry connecting until
    `connect_timeout` seconds have passed.
    """

    def __init__(self, socket_path: str | os.PathLike, connect_timeout: float = 10.0) -> None:
        self.path = os.fspath(socket_path)
        self.connect_timeout = connect_timeout

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + self.connect_timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.path)
                return sock
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _request(self, request: dict) -> dict:
        with self._connect() as sock, sock.makefile("rwb") as f:
            f.write(json.dumps(request).encode() + b"\n")
            f.flush()
            reply = json.loads(f.readline())
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def state(self) -> dict[int, dict[str, Any]]:
        """{17: {"state": 1, "function": "output"}, ...} for every pin in use."""
        return {int(k): v for k, v in self._request({"op": "state"})["pins"].items()}

    def pin(self, number: int) -> int | float | None:
        """The state of one pin, or None if the process has not touched it."""
        info = self.state().get(number)
        return None if info is None else info["state"]

    def drive(self, pin: int, value: int) -> None:
        """Drive input `pin` high (1) or low (0)."""
        self._request({"op": "drive", "pin": pin, "value": int(value)})

    def wait_for(self, pin: int, value: int | float, timeout: float = 10.0) -> None:
        """Return once `pin` has state `value`; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._connect() as sock, sock.makefile("rwb") as f:
            f.write(b'{"op": "subscribe"}\n')
            f.flush()
            last: Any = None
            while True:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    line = f.readline()
                except TimeoutError:
                    line = b""
                if not line:
                    raise TimeoutError(f"pin {pin} did not become {value} (last: {last})")
                event = json.loads(line)
                if "pins" in event:
                    last = event["pins"].get(str(pin), {}).get("state")
                elif event["pin"] == str(pin):
                    last = event["state"]
                if last == value:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"pin {pin} did not become {value} (last: {last})")
