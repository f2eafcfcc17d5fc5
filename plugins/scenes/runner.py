"""How a scene runs: under one claim, its steps run by the Pi that holds it.

The Pi that wins `scene goodnight` flattens it (nested scenes inline) and sorts
each step by where it can run:

- here: an exclusive command this Pi can run (a Hue light, anything with no
  `runs_on`): run by this Pi, in order, without a message. Consecutive steps on
  different devices (the plugin's `device_of`, e.g. two Hue lights) run together;
  a step whose plugin names no device runs alone, in its place.
- on one other Pi (the plugin's `home_of`, e.g. a GPIO relay's Pi): all of that
  Pi's steps go to it in one federation command in the scene's thread
  (`scene steps 5,8 for pi-2 of goodnight`), which that Pi claims as usual.
- anywhere else: broadcast and sequential steps (every Pi runs them), and steps
  whose plugin cannot say where they run, are posted as before, one command each.

Progress lives in the scene's answer (see `progress.py`): posted before the
first step, edited before a wave with a step that is not idempotent starts
(its steps "running") and when the scene ends. A Pi that takes the scene over
(its Pi died holding the claim; `scene` is idempotent to the guard because this
runner makes it so) reads the newest record from the thread and goes on: done
steps are not run again, an idempotent step that was running runs again, one
that is not is reported as interrupted; a message the record says was sent but
that is not in the thread is sent again.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slackmq import Markers
from troupe.commands import best_match
from troupe.plugin import Context
from troupe.text import unescape

from .progress import Progress

TOGETHER = 4  # steps of a wave at once: a Hue bridge queues only a few connections (the
# emulator's server 5; a 6th waits for a SYN retry, a second)
POLL = 0.25  # s between looks at the thread while waiting for the steps sent to other Pis
PART = "scene steps {steps} for {host} of {name}"


class StepContext(Context):
    """A step run inside a scene: its answer is kept for the scene's one answer."""

    def reply(self, text: str, *, thread: bool = False,
              extra: dict[str, Any] | None = None) -> str | None:
        self.replies.append(text)
        return None


@dataclass
class Step:
    index: int
    text: str
    plugin: Any = None
    spec: Any = None
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def idempotent(self) -> bool:
        return self.spec is None or bool(self.spec.idempotent)

    def hook(self, name: str) -> str | None:
        found = getattr(self.plugin, name, None) if self.spec is not None else None
        return found(self.spec, self.args) if found else None


def match_steps(host: Any, aliases: dict[str, str], texts: list[str]) -> list[Step]:
    """Each step's command, as the core would match it (after a configured alias)."""
    pairs = list(getattr(host, "commands", []))
    steps = []
    for i, text in enumerate(texts):
        full = aliases.get(" ".join(text.lower().rstrip(".!").split()), text)
        found = best_match(full, [spec for _, spec in pairs])
        if found is None:
            steps.append(Step(i, text))
            continue
        plugin = next(p for p, spec in pairs if spec is found.spec)
        steps.append(Step(i, text, plugin, found.spec, dict(found.args)))
    return steps


def waves(steps: list[Step]) -> list[list[Step]]:
    """Steps in order, grouped: consecutive steps on different devices run together."""
    out: list[list[Step]] = []
    keys: set[str] = set()  # the devices of the last wave (empty: a step that names none)
    for step in steps:
        key = step.hook("device_of")
        if key is not None and keys and key not in keys:
            out[-1].append(step)
            keys.add(key)
        else:
            out.append([step])
            keys = {key} if key is not None else set()
    return out


class SceneRun:
    """One run of a scene (or of the part of it sent to this Pi: `covered`)."""

    def __init__(self, ctx: Context, name: str, label: str, steps: list[Step],
                 covered: set[int] | None = None, wait: float = 4.0):
        self.ctx, self.host = ctx, ctx.host
        self.name, self.label, self.steps = name, label, steps
        self.part = covered is not None
        self.covered = set(range(len(steps))) if covered is None else covered
        self.wait = wait
        self.root = ctx.thread_ts or ctx.ts
        self.answer_ts: str | None = None
        self.log = ctx.plugin.log

    # ---- the run --------------------------------------------------------------
    def run(self) -> None:
        thread = self.host.thread(self.root)
        progress = self._resume(thread) or Progress(
            self.name, ["." if i in self.covered else "-" for i in range(len(self.steps))])
        progress.by = self.host.name
        here, away, everyone = [], {}, []
        for step in self.steps:
            mark = progress.state[step.index]
            if mark in "sp" and self._posted(thread, self._sent_text(progress, step.index)):
                continue  # sent before a takeover: its Pi has it
            if mark not in ".sp":
                continue
            where = self._where(step)
            if where == "here":
                here.append(step)
            elif where is None:
                everyone.append(step)
            else:
                away.setdefault(where, []).append(step)
        sends = {self._part_text(host, steps): steps for host, steps in away.items()}
        sends.update({step.text: [step] for step in everyone})
        for text, steps in sends.items():
            progress.sent[text] = [s.index for s in steps]
            for s in steps:
                progress.state[s.index] = "s" if s.spec is None or s.spec.mode == "exclusive" \
                    else "p"
        if not self.part or sends:
            self._record(progress)  # before anything runs: a taker goes on from here
        for text in sends:
            self.ctx.run(text)
        running = False  # the record says steps are running that have finished since
        for wave in waves(here):
            if not all(step.idempotent for step in wave):
                for step in wave:
                    progress.state[step.index] = "r"
            if running or "r" in progress.state:
                self._record(progress)  # a taker must know what may have happened
            running = "r" in progress.state
            self._run_wave(wave, progress)
        waiting = self._await_sent(progress)
        if not self.part or self.answer_ts or waiting or progress.count("fi"):
            self._record(progress, final=True, waiting=waiting)

    def _where(self, step: Step) -> str | None:
        """"here", the name of the one Pi that can run it, or None (post it for every Pi)."""
        if step.spec is None or self.part:
            return "here"  # runs here, or fails named
        if step.spec.mode != "exclusive":
            return None
        if step.spec.runs_here(step.args, step.plugin):
            return "here"
        return step.hook("home_of")

    def _run_wave(self, wave: list[Step], progress: Progress) -> None:
        with ThreadPoolExecutor(min(len(wave), TOGETHER), thread_name_prefix="scene-step") as pool:
            results = list(pool.map(self._run_step, wave))
        for step, (ok, why) in zip(wave, results, strict=True):
            progress.state[step.index] = "d" if ok else "f"
            if not ok:
                progress.why[step.index] = why

    def _run_step(self, step: Step) -> tuple[bool, str]:
        if step.spec is None:
            return False, "no enabled plugin knows this command"
        if not step.spec.runs_here(step.args, step.plugin):
            return False, f"{self.host.name} cannot run it"
        ctx = StepContext(host=self.host, plugin=step.plugin, user=self.ctx.user,
                          text=step.text, ts=self.ctx.ts, thread_ts=self.ctx.thread_ts,
                          args=dict(step.args))
        try:
            getattr(step.plugin, step.spec.attr)(ctx, **step.args)
        except Exception as e:  # noqa: BLE001 - one step failing is named, the rest go on
            self.log.exception("%s scene %s step %r failed", self.host.name, self.name,
                               step.text)
            return False, f"{type(e).__name__}: {e}"
        return (False, " ".join(ctx.replies) or "failed") if ctx.failed else (True, "")

    # ---- what was sent to other Pis ---------------------------------------------
    def _await_sent(self, progress: Progress) -> dict[str, list[int]]:
        """Wait (up to `wait` s) for the messages sent to other Pis to be marked; take their
        outcome into `progress`. Returns what is still unanswered, by Pi."""
        pending = {text: ix for text, ix in progress.sent.items()
                   if any(progress.state[i] == "s" for i in ix)}
        deadline = time.monotonic() + self.wait
        while pending:
            thread = self.host.thread(self.root)
            for text in list(pending):
                message = self._posted(thread, text)
                outcome = Markers().outcome_of(self._pis_reactions(message)) if message else None
                if outcome:
                    self._settle(thread, message, outcome, pending.pop(text), progress)
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(POLL)  # polling the thread for the other Pis' markers, with a deadline
        return {self._host_of(text): ix for text, ix in pending.items()}

    def _settle(self, thread: list[dict[str, Any]], message: dict[str, Any], outcome: str,
                indexes: list[int], progress: Progress) -> None:
        answers = [m for m in thread if self._payload(m).get("command_ts") == message["ts"]
                   and self._verified(m)]
        records = [Progress.from_payload(self._payload(m)) for m in answers]
        record = next((r for r in reversed(records) if r is not None), None)
        for i in indexes:
            if record is not None and record.state[i] in "dfi":
                progress.state[i] = record.state[i]
                if i in record.why:
                    progress.why[i] = record.why[i]
            elif outcome == "done":
                progress.state[i] = "d"
            else:
                progress.state[i] = "i" if outcome == "interrupted" else "f"
                said = " ".join(unescape(m.get("text", "")) for m in answers)
                progress.why[i] = self._host_of(message.get("text", "")) if outcome == \
                    "interrupted" else (said or outcome)

    def _pis_reactions(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The message's reactions made by this house's Pis (anyone may react)."""
        pis = getattr(self.host, "pis", None)
        known = set(pis()) if callable(pis) else None
        reactions = message.get("reactions") or []
        if known is None:
            return reactions
        return [{**r, "users": [u for u in r.get("users", []) if u in known]}
                for r in reactions if any(u in known for u in r.get("users", []))]

    # ---- the record ---------------------------------------------------------------
    def _resume(self, thread: list[dict[str, Any]]) -> Progress | None:
        """The newest record of this run in the thread, made ready to go on from."""
        records = [Progress.from_payload(self._payload(m)) for m in thread
                   if self._payload(m).get("command_ts") == self.ctx.ts and self._verified(m)]
        found = next((r for r in reversed(records) if r is not None), None)
        if found is None or len(found.state) != len(self.steps):
            return None
        found.taken_from = found.by
        for i, mark in enumerate(found.state):
            if mark == "r" and self.steps[i].idempotent:
                found.state[i] = "."
            elif mark == "r":
                found.state[i], found.why[i] = "i", found.by or "its Pi"
        self.log.warning("%s scene %s %s: going on from %s's record", self.host.name,
                         self.name, self.ctx.ts, found.by)
        return found

    def _record(self, progress: Progress, final: bool = False,
                waiting: dict[str, list[int]] | None = None) -> None:
        seconds = time.time() - float(self.ctx.ts) if final else None
        label = self.label if not self.part else f"{self.label} (steps for {self.host.name})"
        text = progress.text(label, [s.text for s in self.steps], seconds, waiting)
        extra = progress.payload()
        if self.answer_ts is None:
            self.answer_ts = self.ctx.reply(text, thread=True, extra=extra)
            if self.answer_ts is None and not final:  # Slack refused it to the end
                raise RuntimeError("could not post the scene's answer, which keeps its "
                                   "progress; no step run unrecorded")
            return
        try:
            self.host.edit(self.answer_ts, text, reply_to=self.ctx.ts, extra=extra)
        except Exception:
            if not final:
                raise  # a step that is not idempotent must not run unrecorded
            self.log.exception("%s scene %s: could not edit its answer", self.host.name,
                               self.name)

    # ---- helpers --------------------------------------------------------------------
    @staticmethod
    def _payload(message: dict[str, Any] | None) -> dict[str, Any]:
        payload = ((message or {}).get("metadata") or {}).get("event_payload")
        return payload if isinstance(payload, dict) else {}

    def _posted(self, thread: list[dict[str, Any]], text: str | None) -> dict[str, Any] | None:
        """The message with `text` a Pi posted in the thread since this scene was asked."""
        found = [m for m in thread if float(m["ts"]) > float(self.ctx.ts)
                 and unescape(m.get("text", "")) == text and self._verified(m)]
        return found[-1] if found else None

    def _verified(self, message: dict[str, Any]) -> bool:
        """Posted by one of this house's Pis (its proof holds): nobody else steers a scene."""
        verified = getattr(self.host, "verified", None)
        return bool(message.get("bot_id")) and (not callable(verified) or verified(message))

    @staticmethod
    def _sent_text(progress: Progress, index: int) -> str | None:
        return next((t for t, ix in progress.sent.items() if index in ix), None)

    def _part_text(self, host: str, steps: list[Step]) -> str:
        return PART.format(steps=",".join(str(s.index + 1) for s in steps), host=host,
                           name=self.name)

    @staticmethod
    def _host_of(text: str) -> str:
        """The Pi a sent message is for (`... for pi-2 of ...`), or "every Pi"."""
        words = unescape(text).split()
        if words[:2] == ["scene", "steps"] and len(words) > 4 and words[3] == "for":
            return words[4]
        return "the Pi that can run it"
