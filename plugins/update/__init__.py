"""Rolling self-update: `update`, `update to <version>`, `update --canary`, `rollback`, `version`.

An update walks in two phases, each a guarded command:

1. `update [to v]` (exclusive: one Pi answers) picks the version among what the
   configured source offers (the newest by default), posts the plan and
   `update prepare v` in its thread. Every Pi (broadcast) builds v beside the
   running release and checks it there (`troupe check` with its own
   configuration; the plugins import), then says `ready` or `unready` with why.
   Nothing has switched yet, so a broken release halts the update before any
   Pi leaves. Once every Pi is ready, the answering Pi posts `update rollout v`
   in the same thread.
2. `update rollout v` is sequential: the Pis take turns on its post (the pin is
   the turn), one at a time, each once. On its turn a Pi reads the thread (a
   ``halt`` ends the rollout for every later Pi), skips if it already runs v,
   switches `current`, writes its step to the release root and restarts
   keeping the turn (RestartRequested, exit 75; the service manager starts the
   new release). The new process reports "pi-1 now on v2 (took 4 s)" and
   gives the turn back; the next Pi takes it. A process that has not reported
   within `[update] deadline` is rolled back by its watchdog; one that crashes
   on start by the service manager's start limit. Either way the old release
   comes back, says why in the thread and halts the rollout.

The last Pi posts the summary. A Pi that dies holding its turn is freed after
the lease by a waiting Pi (the core reports it) and named in the summary.
`--canary`: only the first Pi's turn switches; an authorized :+1: on its
report posts `update rollout v` for the rest, a :-1: rolls it back. `rollback` is a
sequential command of its own: each Pi goes back to its `previous` release.

Everything the Pis say about an update or a rollback goes in the thread of the
person's command (the plan, every Pi's ready, the rollout post itself, each
turn's report, a halt, the summary): the channel's top level keeps only what
people typed. `version` is one answer for the house, read from the Pis' boards
(each Pi puts the release it runs and the one before on its board at start).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from troupe.commands import command, commands_of
from troupe.config import Problem
from troupe.plugin import Context, Plugin, RestartRequested
from troupe.releases import ReleaseError, validate_version
from troupe.text import escape

from . import thread
from .canary import Canary
from .config import check_root, check_update
from .prepare import coordinate
from .release import EXIT_RESTART, Releases, Watchdog, safe
from .state import Step, load, running_label, running_release, running_version, save
from .versions import versions_answer


class Update(Plugin):
    """Update every Pi in turn from the configured release source, and go back."""

    name = "update"
    sections = ("update",)

    @classmethod
    def check(cls, config: dict[str, Any], host_name: str) -> list[Problem]:
        settings, problems = check_update(config)
        return problems or check_root(settings)

    def __init__(self, host: Any, settings: dict[str, Any],
                 config: dict[str, Any] | None = None) -> None:
        super().__init__(host, settings, config)
        opts, problems = check_update(config or {"update": settings})
        if opts is None:
            raise ValueError("; ".join(map(str, problems)))
        self.opts = opts
        self.root = opts.root
        # A turn lasts until the switched Pi is back (up to `deadline`): its lease comes from
        # [update]. Set on the class's specs, before the bot binds its commands.
        for spec in commands_of(type(self)):
            if spec.mode == "sequential":
                spec.lease = opts.lease
        self.lock = threading.RLock()
        self.releases = Releases(opts, getattr(getattr(host, "config", None), "path", None))
        self.canary = Canary(self)
        self.watchdog = Watchdog(self.root, self.releases, opts.deadline, self._request_restart,
                                 lock=self.lock)
        step = load(self.root)
        if (step and step.phase == "switched" and self.running() == step.target
                and time.time() < step.switched_at + opts.deadline):
            # Armed before connecting, so it also covers "cannot connect". A process that
            # starts after the deadline (the Pi was off) was passed over: it just reports.
            self.watchdog.arm(step)

    def running(self) -> str | None:
        return running_release(self.root)

    # ---- commands ------------------------------------------------------------
    @command("update [to {version:word}] [{canary:--canary|canary}]", idempotent=True, admin=True,
             aliases=["update {version:word} [{canary:--canary|canary}]"])
    def update(self, ctx: Context, version: str | None = None, canary: str | None = None) -> None:
        """Update every Pi, one at a time, to the newest release (or `update to v4`).

        `--canary`: only the first Pi updates; a :+1: on its report rolls on.
        """
        root = ctx.thread_ts or ctx.ts
        try:
            target = self.releases.offered(version)
        except ReleaseError as e:
            ctx.reply(f"Cannot update: {safe(str(e))}", thread=True)
            return
        then = "the first Pi switches and waits for a :+1:" if canary else \
            "they switch one at a time"
        thread.post(self.host, root, f"Preparing {target} on every Pi (build and health "
                                     f"check); then {then}.", "plan", command_ts=ctx.ts,
                    to=target)
        self.host.post_command(f"update prepare {target}", on_behalf_of=ctx.user,
                               thread_ts=root)
        threading.Thread(target=coordinate, name="update-coordinate", daemon=True,
                         args=(self, ctx.ts, root, ctx.user, target, bool(canary))).start()

    @command("update prepare {version:word}", mode="broadcast", admin=True, internal=True)
    def prepare(self, ctx: Context, version: str) -> None:
        """Build and check a release beside the running one (`update` posts this)."""
        started = time.monotonic()
        if self.running() == version:
            ok, why = True, ""
            text = f"{self.host.name}: already on {version}"
        else:
            ok, why = self.releases.ready(version)
            text = (f"{self.host.name}: {version} built and checked, ready" if ok
                    else f"{self.host.name} cannot use {version}: {why}")
        thread.post(self.host, ctx.thread_ts or ctx.ts, escape(text),
                    "ready" if ok else "unready", command_ts=ctx.ts, to=version, why=why,
                    seconds=round(time.monotonic() - started, 1))

    @command("update rollout {version:word} [{canary:--canary|canary}]", mode="sequential",
             admin=True, internal=True)
    def rollout(self, ctx: Context, version: str, canary: str | None = None) -> None:
        """Switch every Pi, one at a time, to a prepared release (`update` posts this)."""
        with self.lock:
            self._turn(ctx, "update", version, bool(canary))

    @command("rollback", mode="sequential", admin=True)
    def rollback(self, ctx: Context) -> None:
        """Take every Pi, one at a time, back to its previous release."""
        with self.lock:
            self._turn(ctx, "rollback", None, False)

    @command("version", idempotent=True)
    def version(self, ctx: Context) -> None:
        """One Pi answers for the house: the release each Pi runs and the one before."""
        ctx.reply(versions_answer(self.host.name, self._release_fields(),
                                  self.host.federation_members(), self.host.boards()))

    def _release_fields(self) -> dict[str, str]:
        """What this Pi's board says of its releases (`version` reads them from there)."""
        return {"release": running_label(self.root),
                "previous_release": self.releases.root.previous_version() or ""}

    # ---- phase 2: a turn -------------------------------------------------------------
    def _turn(self, ctx: Context, op: str, target: str | None, canary: bool) -> None:
        ts, root, name = ctx.ts, ctx.thread_ts or ctx.ts, self.host.name
        started = time.time()
        step = load(self.root)
        if step and step.ts == ts:
            if step.phase == "switched":
                self._arrive(step)  # this Pi restarted for this post: say where it came back
            return
        view = thread.read(self.host, root, ts)
        if view.halt:
            self.log.info("%s %s: the rollout was halted; staying on %s", name, ts,
                          running_label(self.root))
            return
        if canary and (view.reports or view.interrupted):
            self.log.info("%s %s: the canary went first; waiting for its :+1:", name, ts)
            return
        running = self.running()
        if op == "rollback":
            target = self._rollback_target(ts, root)
            if target is None:
                return
        assert target is not None
        validate_version(target)
        if running == target:
            self._skip(ts, root, op, f"already on {target}", to=target)
            return
        ok, why = self.releases.ready(target)
        if not ok:
            self._halt(root, f"{name} could not use {target}: {why}. {name} stays on "
                             f"{running_label(self.root)}", command_ts=ts)
            return
        step = Step(op, ts, root, target, running_version(self.root), started_at=started,
                    switched_at=time.time(), canary=canary)
        save(self.root, step)
        try:
            if op == "update":
                self.releases.root.switch(target)
                self.releases.root.prune()
            else:
                self.releases.root.rollback()
        except ReleaseError as e:
            step.phase = "reported"
            save(self.root, step)
            self._halt(root, f"{name} could not switch to {target}: {safe(str(e))}",
                       command_ts=ts)
            return
        self._restart(f"switching to {target} for {ts}")

    def _rollback_target(self, ts: str, root: str) -> str | None:
        releases = self.releases.root
        previous = releases.previous_version()
        why = None
        if previous is None or not releases.is_complete(previous):
            why = "no previous release to go back to"
        elif releases.failed(previous):
            why = f"its previous release {previous} was rolled back from; not going back to it"
        if why:
            self._skip(ts, root, "rollback", f"{why}; stays on {running_label(self.root)}")
            return None
        return previous

    def _arrive(self, step: Step) -> None:
        """In the process that started after a switch: report where this Pi came back."""
        self.watchdog.cancel()
        name, running = self.host.name, self.running()
        step.phase = "reported"
        if running != step.target:
            why = step.reason or f"{step.target} did not start, so the service manager went back"
            save(self.root, step)
            self._halt(step.thread, f"{name} could not run {step.target}: {why}. {name} is "
                                    f"back on {running_label(self.root)}", command_ts=step.ts)
            return
        took = step.took()
        verb = "now on" if step.op == "update" else "back on"
        text = f"{escape(name)} {verb} {step.target} (took {took:.0f} s)"
        fields = {"from": step.previous, "to": step.target, "seconds": round(took, 1)}
        if step.op == "canary-rollback":
            thread.post(self.host, step.thread, text, "note", command_ts=step.ts, **fields)
            save(self.root, step)
            return
        if step.canary:
            text += (f". Canary: react :+1: to this message to roll {step.target} out to the "
                     f"other Pis, or :-1: to roll {escape(name)} back to {step.previous}.")
            step.phase = "canary"
        report = thread.post(self.host, step.thread, text, "done", command_ts=step.ts, **fields)
        step.report_ts = report or ""
        save(self.root, step)
        if step.canary:
            self.canary.watch()
        else:
            self._maybe_summary(step.ts, step.thread, step.op, step.target)

    # ---- telling the thread ------------------------------------------------------
    def _skip(self, ts: str, root: str, op: str, why: str, **fields: Any) -> None:
        """This Pi has nothing to do on its turn: say why (and sum up if it was the last)."""
        thread.post(self.host, root, f"{escape(self.host.name)}: {escape(why)}", "skipped",
                    command_ts=ts, why=why, **fields)
        self._maybe_summary(ts, root, op, fields.get("to", ""))

    def _halt(self, root: str, why: str, *, command_ts: str) -> None:
        text = (f":octagonal_sign: {escape(why)}. Rollout halted: the other Pis stay as they "
                "are.")
        thread.post(self.host, root, text, "halt", command_ts=command_ts, why=why)

    def _maybe_summary(self, ts: str, root: str, op: str, target: str) -> None:
        view = thread.read(self.host, root, ts)
        what = "Rollback" if op == "rollback" else f"Rollout of {target}"
        text = thread.summary(view, thread.pis(self.host), time.time() - float(ts), what)
        if text:
            thread.post(self.host, root, text, "summary", command_ts=ts)

    # ---- restarting ----------------------------------------------------------------
    def _restart(self, reason: str) -> None:
        """Restart keeping the turn; the service manager starts the new `current`."""
        if threading.current_thread().name == "guard-watch":
            # The guard's watch thread logs and drops exceptions; ask the bot directly.
            self._request_restart(reason)
        raise RestartRequested(reason, EXIT_RESTART)

    def _request_restart(self, reason: str) -> None:
        restart = getattr(self.host, "request_restart", None)
        if restart is not None:
            restart(reason, EXIT_RESTART)

    # ---- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        try:
            self.host.board(**self._release_fields())  # a switch restarts: the board follows
        except Exception as e:  # noqa: BLE001 - only `version` reads it; the update goes on
            # The fields stay on the board's next edit or post (the roster posts it next).
            self.log.warning("%s could not put its release on its board: %s", self.host.name, e)
        step = load(self.root)
        if step is None:
            return
        if step.phase == "canary":
            self.canary.watch()
        elif step.phase == "switched":
            threading.Thread(target=self._resume, args=(step.ts,), daemon=True,
                             name="update-resume").start()

    def _resume(self, ts: str) -> None:
        """Report where this Pi came back, in the process that started after a switch, as
        soon as it is connected (a canary rolled back holds no turn to resume).

        The turn itself is finished by the core alone: catch-up finds this Pi's pin on the
        post and resumes the turn, `_turn` sees the step reported and returns, and that
        claim marks the turn done and gives it back. Giving it back here too raced that
        unpin: the second one could remove the next Pi's fresh pin, and two Pis were away
        at once (seen in make bench with five Pis).
        """
        if not self._connected(self.opts.deadline):
            return  # the watchdog rolls back
        with self.lock:
            step = load(self.root)
            if step is None or step.ts != ts or step.phase != "switched":
                return
            self._arrive(step)

    def _connected(self, timeout: float) -> bool:
        """Wait until the bot's Socket Mode connection is up (a host without one: at once)."""
        if not hasattr(self.host, "transport"):
            return True
        until = time.monotonic() + timeout
        while True:
            client = getattr(self.host.transport, "client", None)
            if client is not None and client.is_connected():
                return True
            if time.monotonic() > until:
                return False
            time.sleep(0.05)  # polling a flag the core does not announce

    def stop(self) -> None:
        self.watchdog.cancel()
        self.canary.stop()
