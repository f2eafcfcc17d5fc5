"""A worker process for the kill tests (run as a script, not collected by pytest).

    python slackmq_worker.py hold  API_URL TOKEN CHANNEL LOG TS [die_after_mark]
    python slackmq_worker.py take  API_URL TOKEN CHANNEL LOG LEASE IDEM_TS,... TS,...

``hold`` claims TS, logs ``run`` (the toggle happened), then blocks forever
(the test SIGKILLs it); with ``die_after_mark`` it records done first. ``take``
loops ``take_over`` over every TS until each is resolved, logging what it did.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from slackmq import SlackMQ


def log(path: str, line: str) -> None:
    with open(path, "a") as f:  # one short append per line: atomic enough on Linux
        f.write(f"{line} {os.getpid()}\n")
        f.flush()


def hold(api: str, token: str, channel: str, path: str, ts: str, *flags: str) -> None:
    mq = SlackMQ(channel=channel, token=token, base_url=api, lease=60)
    claim = mq.claim(ts)
    if not claim.won:
        log(path, f"lost {ts}")
        return
    log(path, f"run {ts}")
    if "die_after_mark" in flags:
        mq._call("reactions.add", name=mq.markers.done, timestamp=ts)
        log(path, f"marked {ts}")
    log(path, f"holding {ts}")
    threading.Event().wait()  # the work takes forever: SIGKILL ends it


def take(api: str, token: str, channel: str, path: str, lease: str, idem: str, todo: str) -> None:
    mq = SlackMQ(channel=channel, token=token, base_url=api, lease=float(lease))
    idempotent = set(filter(None, idem.split(",")))
    pending = list(filter(None, todo.split(",")))
    end = time.monotonic() + 40
    delay = 0.05
    while pending and time.monotonic() < end:
        for ts in list(pending):
            claim = mq.take_over(ts, idempotent=ts in idempotent)
            if claim.won:
                if claim.interrupted:
                    log(path, f"interrupted {ts}")
                    claim.interrupted()
                else:
                    log(path, f"run {ts}")
                    claim.done()
                pending.remove(ts)
            elif claim.status == "done":
                log(path, f"saw-{claim.outcome} {ts}")
                pending.remove(ts)
        if pending:
            time.sleep(delay)  # polling for the lease to pass, with backoff
            delay = min(0.5, delay * 2)
    log(path, f"exit pending={len(pending)}")


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"hold": hold, "take": take}[cmd](*args)
