"""The Socket Mode transport against the emulator: a burst of envelopes arrives whole.

slack_sdk's builtin client reads frames recursively, one level per frame or read, until
a read ends on a frame's edge; when an app's events pile up (a connection restored after
an outage, a Pi busy for a moment) the backlog raised RecursionError in its reader and
the frames after it were misread: events lost (seen in make chaos)."""

from __future__ import annotations

import logging
import threading

from slack_sdk import WebClient

from troupe.sim.slack import SlackWorkspace
from troupe.testing import wait_for
from troupe.transport import Event, Transport

BURST = 1500


def test_a_backlog_of_envelopes_after_an_outage_arrives_whole(caplog):
    caplog.set_level(logging.ERROR, logger="troupe.transport")
    with SlackWorkspace(apps=1) as ws:
        app = ws.app("pi-1")
        got: set[str] = set()
        lock = threading.Lock()

        def on_event(event: Event) -> None:
            if event.type == "message":
                with lock:
                    got.add(event.data["ts"])

        web = WebClient(token=app["bot_token"], base_url=ws.api_url)
        transport = Transport(web, app["app_token"], on_event, lambda: None, spare_after=None)
        transport.start()
        try:
            wait_for(lambda: ws.connections("pi-1") == 1, 10, "the connection")
            ws.cut_off("pi-1")  # Slack keeps the app's events while it cannot deliver them
            posted = {ws.post(f"count {n}") for n in range(BURST)}
            ws.restore("pi-1")  # ... and sends them all at once
            wait_for(lambda: got >= posted, 60, "every event of the backlog")
        finally:
            transport.stop()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors[:3]
