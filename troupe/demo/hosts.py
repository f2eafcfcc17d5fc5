"""The demo's Pis: real `troupe run` processes that the page can kill, restart and update.

Each Pi is started like the systemd unit starts it on a real Pi: from its
current release if an update switched one in, and again at once when it exits
with status 75 (a self-update asking for a restart). Children die with the
demo: they get SIGTERM when it stops, and from the kernel if it is killed.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import troupe
from troupe.files import write_atomic
from troupe.testing import dump_toml

EXIT_RESTART = 75  # RestartForceExitStatus in deploy/troupe.service
READY_MARK = b" ready: "
PR_SET_PDEATHSIG = 1

try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
except OSError:  # pragma: no cover - no libc to call
    _LIBC = None


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the demo dies without cleaning up."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def release_python(release_root: Path) -> tuple[str, str]:
    """(interpreter, version) a Pi runs: its current release's once an update switched it."""
    current = release_root / "current"
    python = current / "venv" / "bin" / "python"
    if python.exists():
        return str(python), os.readlink(current).rsplit("/", 1)[-1].removeprefix("v")
    return sys.executable, troupe.__version__


class Pi:
    """One `troupe run` process and what is known about it."""

    def __init__(self, name: str, workdir: Path, config: dict[str, Any], env: dict[str, str],
                 release_root: Path, on_change: Callable[[Pi], None]) -> None:
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.dir / "troupe.toml"
        self.log_path = workdir / f"{name}.log"
        self.config = config
        self.env = env
        self.release_root = release_root
        self.on_change = on_change
        self.proc: asyncio.subprocess.Process | None = None
        self.ready = False
        self.version = troupe.__version__
        self.exit_code: int | None = None
        self.last_exit: int | None = None  # the previous process's status, kept through a start
        self.down_since: float | None = None  # wall clock: when it last stopped running
        self.note = "not started"
        self.started_at = 0.0
        self.ready_at: float | None = None
        self.restarts = 0
        self.stopping = False
        self._ready_waiters: list[asyncio.Future[None]] = []
        self._watch: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def status(self) -> dict[str, Any]:
        return {"name": self.name, "running": self.running, "ready": self.ready and self.running,
                "pid": self.proc.pid if self.running and self.proc else None,
                "version": self.version, "exit_code": self.exit_code, "note": self.note,
                "last_exit": self.last_exit,
                "down_since": None if self.running else self.down_since,
                "restarts": self.restarts,
                "startup_s": round(self.ready_at - self.started_at, 2) if self.ready_at else None}

    async def start(self) -> None:
        """Start the process (no-op if running); returns once it is spawned, not ready."""
        if self.running:
            return
        write_atomic(self.config_path, dump_toml(self.config))
        python, self.version = release_python(self.release_root)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("TROUPE_SLACK_BOT_TOKEN", None)
        env.pop("TROUPE_SLACK_APP_TOKEN", None)
        self.ready, self.ready_at, self.exit_code = False, None, None
        self.started_at = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')} ({python})\n".encode())
        self.proc = await asyncio.create_subprocess_exec(
            python, "-m", "troupe", "run", "--config", str(self.config_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
            cwd=self.dir, start_new_session=True, preexec_fn=_die_with_parent)
        self.note = "starting"
        self.on_change(self)
        self._watch = asyncio.ensure_future(self._follow(self.proc))

    async def _follow(self, proc: asyncio.subprocess.Process) -> None:
        """Copy the output to the log, notice `ready`, and handle the exit."""
        assert proc.stdout is not None
        with open(self.log_path, "ab") as log:
            async for line in proc.stdout:
                log.write(line)
                log.flush()
                if not self.ready and READY_MARK in line and proc is self.proc:
                    self.ready, self.ready_at, self.note = True, time.monotonic(), "online"
                    self._wake_waiters()
                    self.on_change(self)
        code = await proc.wait()
        if proc is not self.proc:
            return
        self.exit_code, self.last_exit, self.ready = code, code, False
        self.down_since = time.time()
        if code == EXIT_RESTART and not self.stopping:  # waiters wait on through the restart
            self.note, self.restarts = "restarting into its new release", self.restarts + 1
            self.on_change(self)
            await self.start()
            return
        self._wake_waiters()
        if self.note not in ("killed", "stopped"):
            self.note = f"exited with status {code}"
        self.on_change(self)

    def _wake_waiters(self) -> None:
        for waiter in self._ready_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._ready_waiters.clear()

    async def wait_ready(self, timeout: float = 30.0) -> bool:
        """True once the Pi is connected; False if it exited or `timeout` passed first."""
        deadline = time.monotonic() + timeout
        while not self.ready and self.running and time.monotonic() < deadline:
            waiter = asyncio.get_running_loop().create_future()
            self._ready_waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
        return self.ready

    async def kill(self) -> None:
        """SIGKILL: the Pi loses power mid-whatever."""
        if self.running and self.proc is not None:
            self.note = "killed"
            self.proc.kill()
            await self.proc.wait()
            if self._watch is not None:
                await self._watch

    async def terminate(self, timeout: float = 8.0) -> None:
        """SIGTERM (the service manager's stop), then SIGKILL after `timeout`."""
        self.stopping = True
        if not self.running or self.proc is None:
            return
        self.note = "stopped"
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._watch is not None:
            await self._watch

    async def restart(self) -> None:
        """A clean restart, as `systemctl restart` does it: SIGTERM (SIGKILL only if it has
        not stopped within the timeout), then start; a Pi that is not running just starts."""
        await self.terminate()
        self.stopping = False
        self.restarts += 1
        await self.start()
