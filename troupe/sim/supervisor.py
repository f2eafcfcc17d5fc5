"""A tiny service manager for tests: what deploy/troupe.service asks of systemd.

    service = Service("pi-1", root, ["run", "--config", "pi-1.toml"], log_path=...)
    service.start()           # runs <root>/current/venv/bin/troupe run --config ...

- The command starts from `<root>/current` at every start, so a restart after
  a switch runs the new release (ExecStart=/opt/troupe/current/venv/bin/troupe).
- Exit status 75 (a self-update) restarts at once (RestartForceExitStatus=75).
- Any other failure (a non-zero status, a signal) restarts after
  `restart_sec` (Restart=on-failure, RestartSec=); status 0 stays stopped.
- `start_limit_burst` failures within `start_limit_interval` seconds run the
  rollback (OnFailure=troupe-rollback.service: current <- previous, see
  `ReleaseRoot.rollback`) and start again. Unlike systemd, restarts asked for
  with status 75 do not count towards the limit (see docs/deploy.md).
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
        self.root = Path(root)
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
        self._failures: list[float] = []
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
        self._spawn()
        self._thread = threading.Thread(target=self._supervise, name=f"svc-{self.name}",
                                        daemon=True)
        self._thread.start()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            with open(self.log_path, "ab") as out:
                out.write(f"--- start {time.strftime('%H:%M:%S')} "
                          f"({os.readlink(self.root / 'current')})\n".encode())
                out.flush()
                self.proc = subprocess.Popen(self.command(), stdout=out,
                                             stderr=subprocess.STDOUT, env=self.env,
                                             cwd=self.cwd, start_new_session=True)
            self.starts += 1

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            proc = self.proc
            assert proc is not None
            code = proc.wait()
            if self._stopping.is_set():
                self.exits.append(code)
                return
            self.exits.append(code)
            if code == 0:
                log.info("%s exited cleanly; not restarting", self.name)
                return
            if code != EXIT_RESTART:
                self._failed(code)
                if self._stopping.wait(self.restart_sec):
                    return
            self._spawn()

    def _failed(self, code: int) -> None:
        now = time.monotonic()
        self._failures = [t for t in self._failures if now - t < self.interval] + [now]
        log.warning("%s failed (status %d), %d time(s) within %.0f s", self.name, code,
                    len(self._failures), self.interval)
        if len(self._failures) >= self.burst:
            self._failures.clear()
            try:
                back = self.on_failure(self.root)
            except ReleaseError as e:
                log.error("%s: start limit hit; rollback impossible: %s", self.name, e)
                return
            self.rollbacks.append(back)
            log.warning("%s: start limit hit; rolled back to %s", self.name, back)

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
