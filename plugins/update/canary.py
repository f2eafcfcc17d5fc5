"""The canary waits for a person: :+1: on its report rolls on, :-1: rolls it back.

The canary Pi polls the reactions on its own report (one `reactions.get`
every few seconds; the step file keeps the wait across restarts) until an
authorized user votes or `[update] canary_wait` passes. A :+1: posts
`update rollout <v>` in the update's thread on the voter's behalf (every Pi
built and checked v before the canary went), so the rest of the federation
rolls out as usual (the canary skips: it is already there). A
:-1: puts the canary's `current` back and restarts it; the thread says so and
the rollout stops there.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime
from typing import Any

from troupe.releases import ReleaseError
from troupe.text import escape

from . import thread
from .release import safe
from .state import Step, load, save

log = logging.getLogger("troupe.plugin.update")

POLL_S = 2.0
UP = {"+1", "thumbsup"}
DOWN = {"-1", "thumbsdown"}
_USER = re.compile(r"[UW][A-Z0-9]+\Z")


class Canary:
    """Polls the canary's report for a vote (plugin: the update plugin)."""

    def __init__(self, plugin: Any) -> None:
        self.plugin = plugin
        self._job: Any = None
        self._humans: dict[str, bool] = {}

    def watch(self) -> None:
        if self._job is None:
            self._job = self.plugin.host.scheduler.add_job(
                self.check, "interval", seconds=POLL_S, next_run_time=datetime.now(),
                id="update-canary", replace_existing=True)

    def stop(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            try:
                job.remove()
            except Exception:  # noqa: BLE001 - already gone with the scheduler
                pass

    def authorized(self, user: str) -> bool:
        """Who may run `update` by the core's rule: [auth] admins if set, else [auth] users
        if set, else any person in the workspace."""
        auth = self.plugin.config.get("auth") or {}
        users = auth.get("admins") or auth.get("users") or []
        if users:
            return user in users
        if user not in self._humans:
            info = self.plugin.host.web.users_info(user=user).get("user") or {}
            self._humans[user] = not info.get("is_bot") and not info.get("deleted")
        return self._humans[user]

    def vote(self, reactions: list[dict[str, Any]], names: set[str]) -> str | None:
        for reaction in reactions:
            if reaction.get("name") in names:
                for user in reaction.get("users", []):
                    if _USER.match(user) and self.authorized(user):
                        return user
        return None

    def check(self) -> None:
        p = self.plugin
        with p.lock:
            step = load(p.root)
            if step is None or step.phase != "canary" or not step.report_ts:
                self.stop()
                return
            if time.time() - step.started_at > p.opts.canary_wait:
                p._halt(step.thread, f"No :+1: or :-1: for the canary within "
                                     f"{p.opts.canary_wait:.0f} s; {p.host.name} stays on "
                                     f"{step.target}", command_ts=step.ts)
                self._close(step)
                return
            web = p.host.web
            message = web.reactions_get(channel=p.host.channel_id, timestamp=step.report_ts,
                                        full=True).get("message") or {}
            reactions = message.get("reactions") or []
            down, up = self.vote(reactions, DOWN), self.vote(reactions, UP)
            if down:
                self._reject(step, down)
            elif up:
                self._approve(step, up)

    def _close(self, step: Step) -> None:
        step.phase = "reported"
        save(self.plugin.root, step)
        self.stop()

    def _approve(self, step: Step, user: str) -> None:
        p = self.plugin
        thread.post(p.host, step.thread, f"<@{user}> approved the canary: rolling {step.target}"
                                         " out to the other Pis.", "approved", command_ts=step.ts)
        self._close(step)
        p.host.post_command(f"update rollout {step.target}", on_behalf_of=user,
                            thread_ts=step.thread)
        log.info("%s canary approved by %s", p.host.name, user)

    def _reject(self, step: Step, user: str) -> None:
        p = self.plugin
        name = p.host.name
        try:
            back = p.releases.root.rollback()
        except ReleaseError as e:
            p._halt(step.thread, f"The canary was turned down, but {name} cannot go back: "
                                 f"{safe(str(e))}", command_ts=step.ts)
            self._close(step)
            return
        thread.post(p.host, step.thread,
                    f":octagonal_sign: <@{user}> turned the canary down: {escape(name)} goes "
                    f"back to {back}. Rollout halted: the other Pis stay as they are.", "halt",
                    command_ts=step.ts, why="the canary was turned down")
        self._close(step)
        after = Step("canary-rollback", step.ts, step.thread, back, step.target)
        after.switched_at = time.time()
        save(p.root, after)
        p._request_restart(f"canary turned down; back to {back}")
