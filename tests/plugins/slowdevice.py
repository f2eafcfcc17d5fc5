"""A test plugin with one idempotent command on a named device whose first run hangs
(a Hue call that answers late), for the takeover of device commands (issue 19 case 4)."""

import os
import time

from troupe import Plugin, command


class SlowDevice(Plugin):
    """`put <device> <state>`: records each run; the very first run waits for a release."""

    name = "slowdevice"

    def _record(self, line: str) -> None:
        # O_APPEND writes of one short line are atomic: several Pis may write at once.
        fd = os.open(self.settings["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{line} {self.host.name}\n".encode())
        finally:
            os.close(fd)

    def _first(self) -> bool:
        try:
            os.close(os.open(self.settings["log"] + ".first",
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            return True
        except FileExistsError:
            return False

    @command("put {device:word} {state:word}", idempotent=True)
    def put(self, ctx, device: str, state: str) -> None:
        """Set `device` to `state` (idempotent: a takeover may run it again)."""
        if self._first():
            self._record(f"start {device} {state}")
            release = self.settings["log"] + ".release"
            deadline = time.monotonic() + 90
            while not os.path.exists(release) and time.monotonic() < deadline:
                time.sleep(0.05)  # a test stand-in for a device call that hangs
        self._record(f"put {device} {state}")
        ctx.reply(f"{device} is {state}")

    def device_of(self, spec, args) -> str | None:
        return f"slowdevice {args['device']}"
