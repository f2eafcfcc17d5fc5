"""The bot: who may command, what a message means, and handing it to the guard.

transport -> core -> guard -> plugin. The core reads each channel message once
(duplicated deliveries are dropped here), decides whether it is a command from
someone allowed to give it, matches it to a plugin command and asks the guard
to run it in the command's mode. It composes the parts with a job of their own:
`troupe.authors` (who a message is from, who may command), `troupe.catchup` (what
was missed while away) and `troupe.slack_web` (the client, what Slack's errors mean).
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

import troupe
from slackmq import Markers, SlackMQ
from troupe.answers import REPLY_EVENT, Command, CoreAnswers
from troupe.authors import COMMAND_EVENT, Authors
from troupe.broadcasts import BroadcastRuns
from troupe.catchup import CatchUp
from troupe.clicks import CLICK_EVENTS, Clicks
from troupe.commands import CommandSpec, commands_of
from troupe.config import NOT_AN_ADMIN, Config
from troupe.devices import LatestByDevice, device_of
from troupe.federation import BOARD_EVENT, Roster, Seal, gather_answers
from troupe.guard import DECLINED, PREFERRED_WINDOW, Guard, Job, make_lock, preferred_window
from troupe.lanes import Lanes
from troupe.pacing import late_note, serving
from troupe.patterns import Match, best_match
from troupe.plugin import Context, Plugin, RestartRequested
from troupe.refusals import Refusals
from troupe.seen import SeenMessages
from troupe.slack_web import TRANSIENT_ERRORS, StartupError, explain, make_web_client, why
from troupe.state import HostState
from troupe.text import command_text, escape, fit
from troupe.transport import Event, Transport
from troupe.wakeup import MainSleep

log = logging.getLogger("troupe.core")

IGNORED_SUBTYPES = {"message_changed", "message_deleted", "channel_join", "channel_leave",
                    "channel_topic", "channel_purpose", "channel_name", "bot_add", "bot_remove",
                    "pinned_item", "unpinned_item", "ephemeral", "message_replied"}


class Bot(CoreAnswers):
    """One Pi's bot. Also the `Host` that plugins see."""

    def __init__(self, config: Config, plugin_classes: Iterable[type[Plugin]],
                 web: WebClient | None = None):
        self.config = config
        self.name = config.host_name
        self.version = troupe.__version__
        self.web = web or make_web_client(config)
        self.devices: dict[str, Any] = {}
        self.scheduler = BackgroundScheduler()
        self.started_at = time.time()
        self.state = HostState(config.state_dir, self.name)  # what chat told this Pi
        self.broadcasts = BroadcastRuns(config.state_dir, self.name, self._mark_broadcast)
        self.debug: bool = self.state.get("debug", False)
        self.target: str | None = self.state.get("target")
        self.seen = SeenMessages()
        self.executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="command")
        self.plugins: list[Plugin] = [
            cls(self, config.section(cls.plugin_name()), config.raw) for cls in plugin_classes
        ]
        self.commands: list[tuple[Plugin, CommandSpec]] = [
            (plugin, spec) for plugin in self.plugins for spec in commands_of(plugin)
        ]
        self.user_id = ""
        self.bot_id = ""
        self.channel_id = ""
        self.channel_name = config.slack.channel
        self.mq: SlackMQ | None = None
        self.guard: Guard | None = None
        self.transport: Transport | None = None
        self.last_seen_ts: str | None = None
        self.seal = Seal(config.federation_secret, config.max_command_age)  # troupe.federation
        self.roster = Roster(self.web, self.seal, self.name, config.state_dir)
        self.authors = Authors(self.web, config.auth_users, self.roster.verified)
        self.refusals = Refusals(self.web, self.name,
                                 lambda ts: self.guard.first_in_line(ts, suspects=True),
                                 settle=self.roster.settle)
        self.exit_code = 0
        self._stopped = threading.Event()
        self._sleep = MainSleep()  # run()'s main thread sleeps in it
        self.clicks = Clicks(self)  # buttons and the Home tab (troupe.clicks)
        self.latest = LatestByDevice()  # a takeover never undoes a newer command
        self.lanes = Lanes(self.name, self._match, self.request_restart)  # troupe.lanes
        self.catching_up = CatchUp(self.web, self.name, self.on_event,
                                   max_age=self.config.max_command_age)

    # ---- Host: what plugins may use --------------------------------------
    def remember(self, **settings: Any) -> str | None:
        """Apply settings given from chat (`target`, `debug`) now and keep them across
        restarts; None, or why they could not be written down."""
        problem = self.state.remember(**settings)
        for key, value in settings.items():
            setattr(self, key, value)
        return problem

    def say(self, text: str, *, thread_ts: str | None = None, reply_to: str | None = None,
            extra: dict[str, Any] | None = None, blocks: list | None = None,
            late: bool = True) -> str | None:
        """Post an answer; text is escaped so nothing in it can ping or link.

        An answer to a command carries metadata naming the command's ts and this
        Pi, so anyone (a test, the demo page) can tell what it answers; `extra` joins
        it (a scene keeps its progress there).
        """
        text = escape(fit(text))
        metadata = None
        if reply_to:
            text += late_note(reply_to) if late else ""  # held back by Slack's limits: say so
            metadata = self.seal.metadata(REPLY_EVENT, text, {
                "command_ts": reply_to, "host": self.name, **(extra or {})})
        response = self.web.chat_postMessage(channel=self.channel_id, text=text,
                                             thread_ts=thread_ts, metadata=metadata, blocks=blocks)
        return response.get("ts")

    def post_command(self, text: str, *, on_behalf_of: str | None = None,
                     thread_ts: str | None = None) -> str | None:
        """Post a command for the whole federation to run (scene steps, schedule firings)."""
        text = escape(text)
        payload = {"on_behalf_of": on_behalf_of or "", "host": self.name}
        response = self.web.chat_postMessage(channel=self.channel_id, text=text,
                                             thread_ts=thread_ts,
                                             metadata=self.seal.metadata(COMMAND_EVENT, text,
                                                                         payload))
        return response.get("ts")

    def schedule_command(self, text: str, post_at: float, *,
                         on_behalf_of: str | None = None) -> str | None:
        """Ask Slack to post a command later: it runs even if this Pi is gone by then."""
        text, payload = escape(text), {"on_behalf_of": on_behalf_of or "", "host": self.name}
        response = self.web.chat_scheduleMessage(
            channel=self.channel_id, text=text, post_at=int(post_at),
            metadata=self.seal.metadata(COMMAND_EVENT, text, payload, at=int(post_at)))
        return response.get("scheduled_message_id")

    def edit(self, ts: str, text: str, *, reply_to: str | None = None,
             extra: dict[str, Any] | None = None, blocks: list | None = None) -> None:
        """Replace the text of one of this Pi's own messages (escaped, like say); with
        `reply_to`, its metadata too, as say writes it."""
        text = escape(fit(text))
        metadata = self.seal.metadata(REPLY_EVENT, text, {
            "command_ts": reply_to, "host": self.name, **(extra or {})}) if reply_to else None
        self.web.chat_update(channel=self.channel_id, ts=ts, text=text, metadata=metadata,
                             blocks=blocks)

    def thread(self, ts: str) -> list[dict[str, Any]]:
        """The messages of the thread `ts` (first 200), with their metadata."""
        return self.web.conversations_replies(channel=self.channel_id, ts=ts, limit=200,
                                              include_all_metadata=True).get("messages", [])

    def gather(self, command_text: str, hosts: set[str], *, thread_ts: str,
               on_behalf_of: str | None = None, wait: float = 5.0,
               on_answer: Callable[[dict[str, str]], None] | None = None) -> dict[str, str]:
        """Ask other Pis and collect their answers: {host: answer text}.

        Posts `command_text` as a federation command in the thread `thread_ts` (every
        Pi sees it; those that have something to say answer it in the thread, and
        answers name the command they answer), then reads the thread until every Pi
        in `hosts` has answered or `wait` seconds have passed. Slack is the only
        thing the Pis share, so asking the Pi that owns a device is never stale,
        and a Pi that is gone simply does not answer.
        """
        ask = self.post_command(command_text, on_behalf_of=on_behalf_of, thread_ts=thread_ts)
        return gather_answers(self.web, self.channel_id, thread_ts, ask, hosts, wait,
                              self.roster.verified, on_answer)

    def board(self, **fields: Any) -> None:
        """Put `fields` on this Pi's board (its one message, edited in place; federation.py)."""
        self.roster.board.update(**fields)

    def boards(self) -> dict[str, dict[str, Any]]:
        """The other Pis' boards as they are now ({host: fields}), read at once."""
        return self.roster.boards()

    def uptime(self) -> float:
        return time.time() - self.started_at

    def federation_members(self) -> list[str]:
        """The names of the Pis of this house (troupe.federation's roster)."""
        return self.roster.names()

    def pis(self) -> dict[str, str]:  # the Pis of this house: bot user id -> name
        return self.roster.pis()

    def verified(self, message: dict[str, Any]) -> bool:  # posted by one of this house's Pis
        return self.roster.verified(message)

    # ---- lifecycle ---------------------------------------------------------
    def connect(self) -> None:
        """Who am I, which channel, and join it. Raises on bad tokens or an unknown channel."""
        auth = self.web.auth_test()
        self.user_id, self.bot_id = auth["user_id"], auth.get("bot_id") or ""
        self.channel_id, self.channel_name = self._find_channel(self.config.slack.channel)
        self.authors.serve(self.channel_id, self.user_id)
        self.roster.serve(self.channel_id, self.user_id)
        self.mq = make_lock(self.config, self.channel_id,  # its own client, Slack's clock
                            trusted=self.roster.maybe_pi)  # only Pis' markers count
        configured = (self.config.preferred_window or PREFERRED_WINDOW
                      if self.config.preferred_claims else 0.0)
        self.guard = Guard(self.mq, self.name, self.config.lease,
                           preferred=preferred_window(None, configured),
                           members=lambda: list(self.roster.pis()),
                           on_restart=lambda e: self.request_restart(str(e), e.exit_code))

    def _find_channel(self, wanted: str) -> tuple[str, str]:
        if wanted[:1] in "CG" and wanted[1:].isalnum() and wanted.upper() == wanted:
            info = self.web.conversations_info(channel=wanted)["channel"]
            if not info.get("is_member"):
                self.web.conversations_join(channel=wanted)
            return info["id"], info.get("name", wanted)
        cursor = None
        while True:
            page = self.web.conversations_list(types="public_channel,private_channel",
                                               limit=200, cursor=cursor)
            for channel in page["channels"]:
                if channel.get("name") == wanted:
                    if not channel.get("is_member"):
                        self.web.conversations_join(channel=channel["id"])
                    return channel["id"], wanted
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                raise StartupError(f"slack.channel: no channel #{wanted} in this workspace "
                                   "(check the name, or invite the app to it)")

    def connect_until_up(self) -> bool:
        """connect(), waiting out a Slack outage; a refusal (bad token, no channel) raises."""
        delay = 2.0
        while not self._stopped.is_set():
            try:
                self.connect()
                return True
            except SlackApiError as e:
                error = e.response.get("error", "")
                if e.response.status_code < 500 and error not in TRANSIENT_ERRORS:
                    raise StartupError(explain(error)) from None
                reason = f"{error or e.response.status_code}"
            except (OSError, TimeoutError) as e:
                reason = type(e).__name__
            log.warning("%s cannot reach Slack (%s); retrying in %.0fs", self.name, reason, delay)
            self._stopped.wait(delay)
            delay = min(delay * 2, 60.0)
        return False

    def run(self) -> None:
        """Serve until stop() is called."""
        if not self.connect_until_up():
            return
        for plugin in self.plugins:
            plugin.start()
        self.scheduler.start()
        self.transport = Transport(self.web, self.config.slack.app_token, self.on_event,
                                   self.catch_up, spare_after=self.config.spare_connection)
        self.roster.start()  # who the other Pis are (before catch-up), this Pi's own board
        self.transport.start()
        log.info("%s ready: #%s as %s; plugins: %s", self.name, self.channel_name, self.user_id,
                 ", ".join(p.plugin_name() for p in self.plugins))
        if self.state.values:
            log.info("%s remembers from chat: %s (%s)", self.name, ", ".join(
                f"{k} {v}" for k, v in sorted(self.state.values.items())), self.state.path)
        self._sleep.until(self._stopped)  # troupe.wakeup: signals still run at once

    def stop(self) -> None:
        """Stop taking commands, finish the ones running (their claims are released), leave."""
        if self.transport:
            self.transport.stop()
        self.executor.shutdown(wait=True, cancel_futures=False)
        self.lanes.stop()
        if self.guard:
            self.guard.stop()
        try:
            self.scheduler.shutdown(wait=False)
        except Exception:  # noqa: BLE001 - not started
            pass
        for plugin in self.plugins:
            try:
                plugin.stop()
            except Exception:  # noqa: BLE001 - a plugin failing to stop must not block shutdown
                log.exception("%s plugin %s failed to stop", self.name, plugin.plugin_name())
        self._stopped.set()
        self._sleep.wake()

    # ---- events ------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        if event.type == "message":
            self.lanes.note(event.data)  # in the order messages come in
            thread = event.data.get("thread_ts")
            if thread and self.guard and self.roster.is_pi(event.data.get("user")):
                self.guard.pi_posted(thread)  # an answer: no 'expired' one needed (guard)
        try:
            self.executor.submit(self.handle_event, event)
        except RuntimeError:  # shutting down: the message stays in history for the next start
            log.info("%s shutting down; left event %s for later", self.name, event.event_id)

    def handle_event(self, event: Event) -> None:
        try:
            data = event.data
            if event.type == "message":
                with serving(data.get("ts")):  # its calls wait their turn, oldest first
                    self.handle_message(data, event.source)
            elif event.type in CLICK_EVENTS:
                self.clicks.handle(event.type, data)
            elif event.type in ("pin_added", "pin_removed") and self.guard:
                item = data.get("item") or {}
                ts = (item.get("message") or {}).get("ts") or item.get("ts")
                if data.get("channel_id", item.get("channel")) == self.channel_id and ts:
                    if event.type == "pin_added" and not self.roster.maybe_pi(data.get("user")):
                        self.guard.outsider_pin(ts, data.get("user"))  # never a claim
                    elif event.type == "pin_added":
                        self.guard.pin_added(ts, data.get("user"), self._is_turn(item))
                    else:
                        self.guard.pin_removed(ts)
                        self.lanes.close(ts)  # finished: the next on its device may go
        except RestartRequested as e:
            self.request_restart(str(e), e.exit_code)
        except Exception:  # noqa: BLE001 - a malformed event is logged and ignored
            log.exception("%s ignored an event it could not handle: %s", self.name,
                          str(event.data)[:300])
        finally:
            self.lanes.settled(str(event.data.get("ts")))  # unless it is being claimed

    def _is_turn(self, item: dict[str, Any]) -> bool:
        """Whether a pinned item is a sequential command (a pin on it is someone's turn)."""
        text = command_text(str((item.get("message") or {}).get("text") or ""))
        found = self._match(text) if text else None
        return found is not None and found[1].mode == "sequential"

    def request_restart(self, reason: str, exit_code: int = 75) -> None:
        """Stop serving and exit with `exit_code`, for the service manager to start us again."""
        log.warning("%s restarting (%s)", self.name, reason)
        self.exit_code = exit_code
        threading.Thread(target=self.stop, name="restart", daemon=True).start()

    def catch_up(self) -> None:
        """After (re)connecting: run commands posted while this Pi was away."""
        self.roster.settle()  # Pis whose boards came while this one was not listening
        self.catching_up.run(self.channel_id, lambda: self.last_seen_ts)

    def handle_message(self, message: dict[str, Any], source: str = "live") -> None:
        if message.get("channel") != self.channel_id or message.get("subtype") in IGNORED_SUBTYPES:
            return
        ts = message.get("ts")
        if not isinstance(ts, str):
            return
        if not self.last_seen_ts or float(ts) > float(self.last_seen_ts):
            self.last_seen_ts = ts
        if not self.seen.first_time(ts):
            return
        if (message.get("metadata") or {}).get("event_type") == BOARD_EVENT:
            return self.roster.on_board(message)  # a Pi's board: verified, then known
        author = self.authors.author(message)
        if author is None:
            return
        unheld = source == "history" and not message.get("pinned_to")  # claimed in order
        cmd = Command(ts=ts, thread_ts=message.get("thread_ts"),
                      text=command_text(message.get("text", "")), user=author,
                      source="caught-up" if unheld else source,
                      reactions=message.get("reactions") or [])
        if not cmd.text:
            return
        age = self.mq.clock.now() - float(ts)  # Slack's clock: this Pi's may be off
        # Finished while this Pi was away: nothing to do and no call spent. (A broadcast or
        # sequential command is finished only for the Pis whose own marker it carries.)
        cmd.reactions = self.roster.only_pis(cmd.reactions)  # others' marks mean nothing
        finished = source == "history" and _has_outcome(cmd.reactions)
        if not self.authors.authorized(author):
            if source == "live":
                self._refuse(cmd)
            return
        found = self._match(cmd.text)
        if found is None and finished:
            self._unpin_finished(message)
            return
        if found is None:
            if age <= self.config.max_command_age:
                self._exclusive_answer(cmd, "unknown", lambda: self._unknown(cmd))
            return
        plugin, spec, match = found
        if spec.admin and not finished and not self.config.may_administer(author):
            return self._refuse(cmd, NOT_AN_ADMIN.format(spec.name)) if source == "live" else None
        if finished and spec.mode in ("broadcast", "sequential"):
            finished = _has_outcome(cmd.reactions, self.user_id)  # this Pi's own turn
        elif spec.mode == "broadcast" and source != "history" and float(ts) < self.started_at:
            # Delivered live but posted before this process started (a redelivery after a
            # restart, a delayed envelope): the process before may have run it already.
            finished = self._marked_by_me(ts)
        if finished:
            if spec.mode == "exclusive":
                self._unpin_finished(message)
            return
        if age > self.config.max_command_age and not self._holding(cmd):
            if spec.mode == "exclusive" and message.get("pinned_to"):
                self._exclusive_answer(cmd, "expired", lambda: self._expired(cmd, age))
            elif spec.mode == "exclusive" and self.guard:  # one answer, no claim (guard)
                self.guard.expire(Job(ts=ts, label=cmd.quote, run=lambda: False,
                                      thread_ts=cmd.thread_ts, expire=lambda: self._expired(
                                          cmd, age, mark=True)))
            return
        self._dispatch(cmd, plugin, spec, match)

    def _unpin_finished(self, message: dict[str, Any]) -> None:
        """A finished command still pinned: its holder died between its marker and its unpin.
        slackmq's takeover cleans that up (it finds the marker and gives the pin back)."""
        if not message.get("pinned_to") or self.mq is None:
            return
        try:
            claim = self.mq.take_over(message["ts"], idempotent=True)
        except Exception as e:  # noqa: BLE001 - a pin left over is untidy, not harmful
            log.warning("%s %s could not unpin a finished command: %s", self.name,
                        message["ts"], why(e))
            return
        if claim.status == "done":
            log.info("%s %s finished but still pinned: unpinned", self.name, message["ts"])
        elif claim.status == "won":  # cannot happen with a marker on it; never hold it
            claim.release()

    def _marked_by_me(self, ts: str) -> bool:
        """Whether this Pi's outcome marker is on `ts` (one reactions.get)."""
        try:
            found = self.web.reactions_get(channel=self.channel_id, timestamp=ts, full=True)
        except Exception as e:  # noqa: BLE001 - run it rather than drop it
            log.warning("%s %s could not read its markers (%s); running it", self.name, ts,
                        why(e))
            return False
        return _has_outcome((found.get("message") or {}).get("reactions") or [], self.user_id)

    def _holding(self, cmd: Command) -> bool:
        """Whether this Pi pinned `cmd` before it restarted (it must finish it, however old)."""
        if cmd.source != "history" or self.mq is None:
            return False
        holder = self.mq.holder(cmd.ts)
        return holder is not None and holder.user_id == self.user_id

    # ---- what a message means -----------------------------------------------
    def _match(self, text: str) -> tuple[Plugin, CommandSpec, Match] | None:
        """The most specific command matching `text` (after expanding a configured alias)."""
        text = self.config.aliases.get(" ".join(text.lower().rstrip(".!").split()), text)
        match = best_match(text, [spec for _, spec in self.commands])
        if match is None:
            return None
        plugin = next(p for p, spec in self.commands if spec is match.spec)
        return plugin, match.spec, match

    # ---- running ------------------------------------------------------------
    def _dispatch(self, cmd: Command, plugin: Plugin, spec: CommandSpec, match: Match) -> None:
        def run() -> bool:
            try:
                return self._run_handler(cmd, plugin, spec, match)
            finally:
                self.lanes.close(cmd.ts)

        job = Job(ts=cmd.ts, label=cmd.quote, run=run, idempotent=spec.idempotent,
                  report_interrupted=lambda holder, alive=False: self._report_interrupted(
                      cmd, holder, alive),
                  superseded=self.latest.note(device_of(plugin, spec, match.args), cmd.ts),
                  expires_at=float(cmd.ts) + self.config.max_command_age, source=cmd.source,
                  lease=spec.lease, anywhere=self._runs_anywhere(plugin, spec, match),
                  expire=lambda: self._expired(cmd, mark=True), thread_ts=cmd.thread_ts)
        assert self.guard is not None
        if spec.mode == "broadcast":
            log.info("%s %s %r broadcast", self.name, cmd.ts, cmd.quote)
            self.broadcasts.run(cmd.ts, run)  # recorded before it runs (troupe.broadcasts)
        elif spec.mode == "sequential":
            self.guard.sequential(job)
        else:
            targeted_elsewhere = self.target not in (None, self.name)
            if targeted_elsewhere or not self._can_run(plugin, spec, match):
                log.info("%s %s %r not for this Pi; waiting for one that can", self.name, cmd.ts,
                         cmd.quote)
                self.guard.when_nobody_claims(
                    Job(ts=cmd.ts, label=cmd.quote,
                        run=lambda: self._nobody_can(cmd, plugin, spec, match),
                        expires_at=job.expires_at, expire=job.expire, thread_ts=cmd.thread_ts),
                    self.config.no_taker_wait)
                return
            self.lanes.in_turn(cmd.ts, lambda: self.guard.exclusive(job))  # a device's: in order

    @staticmethod
    def _runs_anywhere(plugin: Plugin, spec: CommandSpec, match: Match) -> bool:
        """Whether every Pi could run this one (then the Pis claim it in their agreed order;
        a command only some Pis can run is claimed at once by those). A `runs_on` command
        runs anywhere only when its plugin's `runs_anywhere(spec, args)` says so."""
        if spec.runs_on is None:
            return True
        says = getattr(plugin, "runs_anywhere", None)
        return bool(says(spec, match.args)) if says else False

    def _can_run(self, plugin: Plugin, spec: CommandSpec, match: Match) -> bool:
        runs_on = spec.runs_on
        if runs_on is None:
            return True
        if isinstance(runs_on, str):
            return bool(getattr(plugin, runs_on)(match.args))
        return bool(runs_on(plugin, match.args))

    def _run_handler(self, cmd: Command, plugin: Plugin, spec: CommandSpec, match: Match) -> bool:
        ctx = Context(host=self, plugin=plugin, user=cmd.user, text=cmd.text, ts=cmd.ts,
                      thread_ts=cmd.thread_ts, args=dict(match.args), debug=self.debug)
        handler = getattr(plugin, spec.attr)
        try:
            handler(ctx, **match.args)
            return True
        except RestartRequested:
            raise
        except Exception as e:  # noqa: BLE001 - a failing handler never takes the bot down
            log.error("%s %s %r handler %s.%s failed:\n%s", self.name, cmd.ts, cmd.quote,
                      plugin.plugin_name(), spec.attr, traceback.format_exc())
            try:
                ctx.reply(f"Sorry, `{cmd.quote}` failed on {self.name}: {type(e).__name__}: {e}",
                          thread=True)
            except Exception:  # noqa: BLE001 - Slack down too: the log has it
                log.exception("%s could not report a failure", self.name)
            return False

    def _exclusive_answer(self, cmd: Command, label: str, answer) -> None:
        assert self.guard is not None

        def run() -> str:
            answer()
            return DECLINED  # answered, nothing run: not marked done

        self.guard.exclusive(Job(ts=cmd.ts, label=f"{cmd.quote} ({label})", run=run,
                                 idempotent=True))

    def _mark_broadcast(self, ts: str, ok: bool | None) -> bool:
        assert self.mq is not None
        m = self.mq.markers
        try:
            self.web.reactions_add(channel=self.channel_id, timestamp=ts,
                                   name=m.done if ok else m.interrupted if ok is None else m.failed)
        except SlackApiError as e:
            if e.response.get("error") != "already_reacted":
                log.warning("%s %s could not mark broadcast: %s", self.name, ts,
                            e.response.get("error"))
                return False
        return True


def _has_outcome(reactions: list[dict[str, Any]], user: str | None = None) -> bool:
    """Whether a message carries an outcome marker (from `user`, if given)."""
    return Markers().outcome_of(reactions or [], user) is not None

