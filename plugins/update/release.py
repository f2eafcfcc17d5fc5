"""This Pi's side of a rollout: get a release ready, and the deadline watchdog.

`Releases.ready(v)` builds `v` beside the running release and runs the health
check inside it (`troupe check` with this Pi's configuration, and the imports);
a success is remembered for this process, so a release prepared ahead of the
Pi's turn (`update prepare v`) is only switched to when the turn comes.

The watchdog runs in the process a switch started: if that process has not
reported in the thread within the deadline (it could not connect, or hangs),
it puts `current` back and exits with 75, so the service manager starts the
release it came from; that process reports the failure and halts the rollout.
A release that crashes on start is the service manager's to roll back (the
start limit, deploy/troupe.service).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from troupe.releases import ReleaseError, ReleaseRoot, source_from_config

from .config import Settings
from .state import Step, load, save

log = logging.getLogger("troupe.plugin.update")

EXIT_RESTART = 75  # RestartForceExitStatus in deploy/troupe.service
IMPORTS = ("troupe", "slackmq", "troupe_plugins.update")
_USERINFO = re.compile(r"//[^/@\s]+@")


def safe(text: str, limit: int = 600) -> str:
    """Release errors for chat: no credentials from a URL, the last `limit` characters."""
    text = _USERINFO.sub("//", text.strip())
    return text if len(text) <= limit else "…" + text[-limit:]


class Releases:
    """The release root of this Pi, with a build lock and remembered health checks."""

    def __init__(self, settings: Settings, config_path: str | None) -> None:
        self.settings = settings
        self.root = ReleaseRoot(settings.root, source_from_config(settings.table),
                                reuse_site_packages=settings.reuse_site_packages,
                                keep=settings.keep)
        self.config_path = config_path
        self._lock = threading.Lock()
        self._ready: set[str] = set()

    def offered(self, version: str | None) -> str:
        """`version` if the source offers it, else the newest offered; ReleaseError if none."""
        source = self.root.source
        assert source is not None
        offered = source.versions()
        if version is None:
            if not offered:
                raise ReleaseError(f"{source.describe()} offers no release")
            return offered[-1]
        if version not in offered:
            shown = ", ".join(offered[-10:]) or "nothing"
            raise ReleaseError(f"{version} is not offered by the configured source; "
                               f"offered: {shown}")
        return version

    def ready(self, version: str) -> tuple[bool, str]:
        """Build `version` and check it inside its release: (ok, why not)."""
        with self._lock:
            if version in self._ready and self.root.is_complete(version):
                return True, ""
            started = time.monotonic()
            try:
                self.root.build(version)
            except ReleaseError as e:
                return False, f"its build failed: {safe(str(e))}"
            if not self.config_path:
                return False, "no configuration file to check it with"
            ok, output = self.root.health_check(version, self.config_path, imports=IMPORTS)
            if not ok:
                return False, f"its health check failed: {safe(output)}"
            log.info("%s built and checked in %.1f s", version, time.monotonic() - started)
            self._ready.add(version)
            return True, ""


class Watchdog:
    """Roll back and restart unless the switched process reports within the deadline."""

    def __init__(self, root: Path, releases: Releases, deadline: float,
                 restart: Callable[[str], None], hard_exit: Callable[[int], None] = os._exit,
                 lock: threading.RLock | None = None) -> None:
        self.root = root
        self.releases = releases
        self.deadline = deadline
        self.restart = restart
        self.hard_exit = hard_exit
        self.lock = lock or threading.RLock()
        self.fired = threading.Event()
        self._timer: threading.Timer | None = None

    def arm(self, step: Step) -> None:
        delay = max(0.0, step.switched_at + self.deadline - time.time())
        log.info("watchdog: %s must report within %.0f s", step.target, delay)
        self._timer = threading.Timer(delay, self.fire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def fire(self) -> None:
        with self.lock:
            step = load(self.root)
            if step is None or step.phase != "switched":
                return
            try:
                back = self.releases.root.rollback()
            except ReleaseError as e:
                log.error("watchdog: %s did not report in time and cannot roll back: %s",
                          step.target, e)
                return
            step.reason = f"it did not come back and answer within {self.deadline:.0f} s"
            save(self.root, step)
        log.error("watchdog: %s did not report within %.0f s; back to %s, restarting",
                  step.target, self.deadline, back)
        self.fired.set()
        self.restart(f"{step.target} did not answer in time; rolled back to {back}")
        # If stopping hangs (that may be why it never answered), leave anyway.
        killer = threading.Timer(15.0, self.hard_exit, args=(EXIT_RESTART,))
        killer.daemon = True
        killer.start()
