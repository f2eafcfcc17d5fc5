"""A tiny service manager for tests: what deploy/troupe.service asks of systemd.

    service = Service("pi-1", root, ["run", "--config", "pi-1.toml"], log_path=...)
    service.start()           # runs <root>/current/venv/bin/troupe run --config ...

- The command starts from `<root>/current` at every start, so a restart after
  a switch runs the new release (ExecStart=/opt/troupe/current/venv/bin/troupe).
- A failure (a non-zero status, a signal) and exit status 75 (a restart the bot
  asks for after switching `current`) restart after `restart_sec`
  (Restart=on-failure, RestartForceExitStatus=75, RestartSec=); status 0
  stays stopped.
- Every start counts towards the start limit, as in systemd: a start when
  `start_limit_burst` starts already happened within `start_limit_interval`
  seconds is refused, the unit fails, and its OnFailure= unit
  (troupe-rollback.service) points current at previous (`ReleaseRoot.rollback`),
  clears the limit and starts it again; if the rollback is impossible the unit
  stays down, as the failed troupe-rollback.service leaves it.
- Exit status 75 clears the start limit before the restart, as the unit's
  ExecStopPost=+troupe-stop-post does (`systemctl reset-failed`): a restart
  the bot asked for is a fresh start, so any number of updates in a row never
  reaches the limit, while a new release that fails its first starts does.
- `kill()` is a power cut: SIGKILL to the whole process group, no restart.

Only tests and the demo use it; a Pi has systemd.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from troupe.releases import ReleaseError, ReleaseRoot

log = logging.getLogger("troupe.sim.supervisor")

EXIT_RESTART = 75


def rollback_root(root: Path) -> str:
    """The OnFailure= unit's job: current <- previous (raises ReleaseError if it cannot)."""
    return ReleaseRoot(root).rollback()


class Service:
    """One supervised `troupe` process started from a release root's `current`."""

    def __init__(self, name: str, root: str | os.PathLike[str], args: list[str], *,
                 log_path: str | os.PathLike[str], env: dict[str, str] | None = None,
                 cwd: str | os.PathLike[str] | None = None, restart_sec: float = 0.2,
                 start_limit_burst: int = 3, start_limit_interval: float = 300.0,
                 on_failure: Callable[[Path], str] = rollback_root) -> None:
        self.name = name
        self.root = Path(os.path.abspath(os.fspath(root)))  # the process runs in `cwd`
        self.args = list(args)
        self.log_path = Path(log_path)
        self.env = env
        self.cwd = cwd
        self.restart_sec = restart_sec
        self.burst = start_limit_burst
        self.interval = start_limit_interval
        self.on_failure = on_failure
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.exits: list[int] = []  # return codes, in order (negative: killed by a signal)
        self.rollbacks: list[str] = []  # the releases the start limit rolled back to
        self.failed = False  # the start limit was hit and the rollback was impossible
        self._started_at: list[float] = []  # the start-rate counter (monotonic times)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        return [str(self.root / "current" / "venv" / "bin" / "troupe"), *self.args]

    def start(self) -> None:
        """Start the process and supervise it until `stop()` or `kill()`."""
        self._stopping.clear()
        if not self._spawn():
            return
        self._thread = threading.Thread(target=self._supervise, name=f"svc-{self.name}",
                                        daemon=True)
        self._thread.start()

    def _spawn(self) -> bool:
        with self._lock:
            if self._stopping.is_set():
                return False
            if not self._start_allowed():
                return False
            with open(self.log_path, "ab") as out:
                out.write(f"--- start {time.strftime('%H:%M:%S')} "
                          f"({os.readlink(self.root / 'current')})\n".encode())
                out.flush()
                self.proc = subprocess.Popen(self.command(), stdout=out,
                                             stderr=subprocess.STDOUT, env=self.env,
                                             cwd=self.cwd, start_new_session=True)
            self.starts += 1
            return True

    def _start_allowed(self) -> bool:
        """StartLimitIntervalSec=/StartLimitBurst=: count this start, or fail the unit."""
        now = time.monotonic()
        self._started_at = [t for t in self._started_at if now - t < self.interval]
        if len(self._started_at) >= self.burst:
            log.warning("%s: start limit hit (%d starts within %.0f s)", self.name,
                        len(self._started_at), self.interval)
            try:
                back = self.on_failure(self.root)  # OnFailure=troupe-rollback.service
            except ReleaseError as e:
                log.error("%s: rollback impossible, staying down: %s", self.name, e)
                self.failed = True
                return False
            self.rollbacks.append(back)
            log.warning("%s: rolled back to %s", self.name, back)
            self._started_at.clear()  # its ExecStartPost: systemctl reset-failed, start
        self._started_at.append(now)
        return True

    def reset_failed(self) -> None:
        """`systemctl reset-failed`: flush the start-rate counter."""
        with self._lock:
            self._started_at.clear()

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            proc = self.proc
            assert proc is not None
            code = proc.wait()
            self.exits.append(code)
            if self._stopping.is_set():
                return
            if code == 0:
                log.info("%s exited cleanly; not restarting", self.name)
                return
            if code == EXIT_RESTART:
                self.reset_failed()  # ExecStopPost=+troupe-stop-post
            else:
                log.warning("%s failed (status %d)", self.name, code)
            if self._stopping.wait(self.restart_sec):
                return
            if not self._spawn():
                return

    def _signal(self, sig: int) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait (systemctl stop); SIGKILL after `timeout`."""
        with self._lock:
            self._stopping.set()
        self._signal(signal.SIGTERM)
        return self._reap(timeout)

    def kill(self) -> int | None:
        """A power cut: SIGKILL to the process group; it is not started again."""
        with self._lock:
            self._stopping.set()
        self._signal(signal.SIGKILL)
        return self._reap(10.0)

    def crash(self) -> None:
        """SIGKILL as a crash: the service manager starts it again (a failure)."""
        self._signal(signal.SIGKILL)

    def _reap(self, timeout: float) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            proc.wait(10)
        if self._thread is not None:
            self._thread.join(5)
        return proc.returncode
