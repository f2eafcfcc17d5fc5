"""Phase 1 of an update: wait until every Pi has built and checked the release.

The Pi that answered `update` reads the thread every few seconds until every
Pi in the channel has said `ready` or `unready` (or `[update] prepare_wait`
passes). One `unready` halts the update before any Pi switched; otherwise it
posts `update rollout <v>` on the asker's behalf, in the same thread: the
channel shows only the person's `update` (catch-up finds a command in a thread
by its pin or by reading the threads of recent messages). If this Pi dies while
it waits, nothing is posted: ask again (the builds are kept).
"""

from __future__ import annotations

import time
from typing import Any

from troupe.text import escape

from . import thread

POLL_S = 2.0  # conversations.replies is Tier 3 (~50 a minute)


def coordinate(plugin: Any, ts: str, root: str, user: str, target: str, canary: bool) -> None:
    """Wait for every Pi's `ready`, then post the rollout (or halt with why not)."""
    host = plugin.host
    try:
        members = thread.pis(host)
        until = time.monotonic() + plugin.opts.prepare_wait
        while True:
            view = thread.read(host, root, ts)
            missing = set(members) - set(view.ready)
            if view.halt or not missing or time.monotonic() > until:
                break
            time.sleep(POLL_S)  # polling the thread: the plugin gets no event for replies
        if view.halt:
            return
        unready = [p for p in view.ready.values() if p.get("update") == "unready"]
        if unready:
            first = unready[0]
            also = ", ".join(p.get("host", "?") for p in unready[1:])
            plugin._halt(root, f"Not rolling out {target}: {first.get('host')} cannot use it: "
                               f"{first.get('why')}{f' (nor can {also})' if also else ''}. "
                               "No Pi switched", command_ts=ts)
            return
        note = f"Every Pi is ready: rolling out {target}, one Pi at a time."
        if missing:
            names = ", ".join(sorted(members[u] for u in missing))
            note += f" ({names} did not report ready; it builds on its turn.)"
        thread.post(host, root, escape(note), "go", command_ts=ts)
        host.post_command(f"update rollout {target}{' --canary' if canary else ''}",
                          on_behalf_of=user, thread_ts=root)  # the channel stays for people
    except Exception:  # noqa: BLE001 - a thread of our own: log it
        plugin.log.exception("%s could not coordinate the update %s", host.name, ts)
