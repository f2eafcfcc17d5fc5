"""Run `troupe demo` as a subprocess and talk to its JSON API: for tests of the demo.

    with DemoProcess(hosts=2) as demo:
        demo.wait_online()
        ts = demo.post("/api/say", {"text": "toggle dining light"})["ts"]
        demo.wait_for(lambda s: demo.answers(s, ts), what="an answer")
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
ADDRESS_PREFIX = "Troupe demo: "


class DemoProcess:
    """`python -m troupe demo --port 0` with its printed address, output and API at hand."""

    def __init__(self, hosts: int = 2, workdir: Path | None = None, start_timeout: float = 60.0,
                 extra_args: list[str] | None = None, port: int | None = 0) -> None:
        """`port` None: no --port (the demo's default, 8080 or a free one)."""
        self.args = [sys.executable, "-m", "troupe", "demo", "--hosts", str(hosts)]
        if port is not None:
            self.args += ["--port", str(port)]
        if workdir is not None:
            self.args += ["--workdir", str(workdir)]
        self.args += extra_args or []
        self.start_timeout = start_timeout
        self.lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> DemoProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self.wait_line(ADDRESS_PREFIX, self.start_timeout)[len(ADDRESS_PREFIX):].strip()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_line(self, prefix: str, timeout: float = 30.0) -> str:
        """The first line of output (from now on) that starts with `prefix`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no line starting {prefix!r} after {timeout:.0f}s; "
                                   f"output so far:\n" + "\n".join(self.lines)) from None
            if line is None:
                raise RuntimeError("troupe demo exited:\n" + "\n".join(self.lines))
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    # -- the API -------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def get(self, path: str) -> Any:
        status, data = self.request("GET", path)
        assert status == 200, (status, data)
        return data

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        status, data = self.request("POST", path, body or {})
        assert status == 200 and data["ok"], (status, data)
        return data

    def state(self) -> dict[str, Any]:
        return self.get("/api/state")

    def wait_for(self, condition: Callable[[dict[str, Any]], T], timeout: float = 20.0,
                 what: str = "condition") -> T:
        """Poll /api/state until `condition(state)` is truthy; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition(self.state())
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(0.05)  # polling interval

    def wait_online(self, timeout: float = 30.0) -> dict[str, Any]:
        try:
            return self.wait_for(lambda s: all(p["state"] == "online" for p in s["pis"]) and s,
                                 timeout, "every Pi online")
        except TimeoutError as e:
            states = ", ".join(f"{p['name']} {p['state']} ({p['note']})"
                               for p in self.state()["pis"])
            raise TimeoutError(f"{e}: {states}") from None

    @staticmethod
    def answers(state: dict[str, Any], ts: str) -> list[dict[str, Any]]:
        """The Pis' answers to the command at `ts`."""
        return [m for m in state["messages"] if m["reply_to"] == ts and m["kind"] == "pi"]

    @staticmethod
    def message(state: dict[str, Any], ts: str) -> dict[str, Any] | None:
        return next((m for m in state["messages"] if m["ts"] == ts), None)

    @staticmethod
    def light(state: dict[str, Any], key: str) -> dict[str, Any]:
        return next(light for light in state["house"]["lights"] if light["key"] == key)

    @staticmethod
    def pi(state: dict[str, Any], name: str) -> dict[str, Any]:
        return next(p for p in state["pis"] if p["name"] == name)

    # -- stopping ------------------------------------------------------------------

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C: SIGINT, then wait for the demo to exit; returns its exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout)
        while (line := self._lines.get(timeout=5)) is not None:
            self.lines.append(line)
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.interrupt()
            except (subprocess.TimeoutExpired, queue.Empty):
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> DemoProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
