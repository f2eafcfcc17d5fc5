"""A test plugin: a sequential command whose turn on each Pi lasts until the test says so."""

import os
import time

from troupe import Plugin, command


class Queue(Plugin):
    """`queue N`: each Pi in turn records its start, holds until `<log>.release-<host>`
    exists (or 60 s pass), then records its end."""

    name = "turnqueue"

    def _record(self, line: str) -> None:
        fd = os.open(self.settings["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:  # O_APPEND writes of one short line are atomic: several Pis may write at once
            os.write(fd, f"{line} {self.host.name}\n".encode())
        finally:
            os.close(fd)

    @command("queue {n:int}", mode="sequential")
    def queue(self, ctx, n: int) -> None:
        """Each Pi holds its turn of command n until released."""
        self._record(f"start {n}")
        release = f"{self.settings['log']}.release-{self.host.name}"
        deadline = time.monotonic() + 60
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)  # a test stand-in for slow work
        self._record(f"end {n}")
        ctx.reply(f"queue {n} done")
