"""The plugin base class and the context a command handler gets.

A plugin is a class with decorated methods (see `troupe.commands.command`):

    class Garage(Plugin):
        '''The garage door.'''

        @command("open garage")
        def open(self, ctx):
            '''Open the garage door.'''
            self.door.on()
            ctx.reply("Garage opening.")

The core never imports a plugin by name, and a plugin never talks to Slack
directly: it uses the `Context` and the `Host` it was given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from troupe.backlog import backlog_for
from troupe.config import Problem
from troupe.panels import Panel
from troupe.text import excerpt

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler


class RestartRequested(Exception):  # noqa: N818 - a request, not an error
    """Raised by a handler to restart this Pi (into a new release) while keeping its claim.

    The claim is neither marked nor released: the restarted process finds its own
    pin on the message and finishes the command (the rolling update works so).
    `exit_code` 75 tells the service manager to start the process again.
    """

    def __init__(self, reason: str, exit_code: int = 75):
        super().__init__(reason)
        self.exit_code = exit_code


class Host(Protocol):
    """What the bot offers a plugin: its name, devices, scheduler and a way to speak."""

    name: str
    devices: dict[str, Any]
    scheduler: BaseScheduler
    version: str

    def say(self, text: str, *, thread_ts: str | None = None, reply_to: str | None = None,
            extra: dict[str, Any] | None = None, blocks: list | None = None) -> str | None: ...

    def post_command(self, text: str, *, on_behalf_of: str | None = None,
                     thread_ts: str | None = None) -> str | None: ...

    def edit(self, ts: str, text: str, *, reply_to: str | None = None,
             extra: dict[str, Any] | None = None) -> None: ...

    def thread(self, ts: str) -> list[dict[str, Any]]: ...

    def board(self, **fields: Any) -> None: ...

    def boards(self) -> dict[str, dict[str, Any]]: ...

    def gather(self, command_text: str, hosts: set[str], *, thread_ts: str,
               on_behalf_of: str | None = None, wait: float = 5.0,
               on_answer: Any = None) -> dict[str, str]: ...

    def schedule_command(self, text: str, post_at: float, *,
                         on_behalf_of: str | None = None) -> str | None: ...


class Plugin:
    """Base class of every Troupe plugin.

    `name` is the plugin's name in `[plugins] enabled` and its settings table;
    `sections` lists the top-level tables it owns (default: just `name`).
    Override `check` to validate settings and `start` / `stop` to set up and
    release devices and jobs.
    """

    name: ClassVar[str] = ""
    sections: ClassVar[tuple[str, ...]] = ()

    def __init__(self, host: Host, settings: dict[str, Any], config: dict[str, Any] | None = None):
        self.host = host
        self.settings = settings
        self.config = config or {}
        self.log = logging.getLogger(f"troupe.plugin.{self.plugin_name()}")

    @classmethod
    def plugin_name(cls) -> str:
        return cls.name or cls.__name__.lower()

    @classmethod
    def owned_sections(cls) -> tuple[str, ...]:
        return cls.sections or (cls.plugin_name(),)

    @classmethod
    def check(cls, config: dict[str, Any], host_name: str) -> list[Problem]:
        """Problems with this plugin's settings in the whole raw configuration."""
        return []

    @classmethod
    def gpio_pins(cls, config: dict[str, Any], host_name: str) -> list[str]:
        """The GPIO pins this plugin opens on `host_name`, as "lights.porch (GPIO 17)": a Pi
        with any needs a real pin library (see troupe.pins)."""
        return []

    @classmethod
    def configured(cls, config: dict[str, Any]) -> bool:
        """Whether the configuration has settings for this plugin (enables it by default)."""
        return any(section in config for section in cls.owned_sections())

    def panel(self, name: str) -> Panel | None:
        """The panel `name` as it is now (troupe.panels), if this plugin shows it: the Pi
        whose panel was clicked renders it again to update it in place."""
        return None

    def start(self) -> None:
        """Called once the bot is connected: open devices, add jobs."""

    def stop(self) -> None:
        """Called on shutdown: close devices."""


@dataclass
class Context:
    """What a handler gets: who asked what, and how to answer."""

    host: Host
    plugin: Plugin
    user: str
    text: str
    ts: str
    thread_ts: str | None
    args: dict[str, Any] = field(default_factory=dict)
    replies: list[str] = field(default_factory=list)
    debug: bool = False
    answer_lost: bool = False  # an answer could not be posted (Slack refused it to the end)
    failed: bool = False  # the handler answered with a failure it handled (a scene names it)

    @property
    def host_name(self) -> str:
        return self.host.name

    @property
    def settings(self) -> dict[str, Any]:
        return self.plugin.settings

    @property
    def scheduler(self) -> BaseScheduler:
        return self.host.scheduler

    @property
    def devices(self) -> dict[str, Any]:
        return self.host.devices

    def panel(self, panel: Panel, *, thread: bool = False) -> str | None:
        """Answer with a panel (troupe.panels): its text, with its buttons."""
        return self.reply(panel.fallback(), thread=thread, blocks=panel.blocks())

    def reply(self, text: str, *, thread: bool = False,
              extra: dict[str, Any] | None = None, blocks: list | None = None) -> str | None:
        """Answer in the channel, or in the command's thread with thread=True.

        Text is escaped (`&`, `<`, `>`) so echoed user input cannot ping
        anyone; with debug on, the answer names this Pi. An answer Slack refuses even
        after the retries is logged, not raised (`answer_lost`): the work stays done.
        `extra`: more fields for the answer's metadata (a scene's progress).
        """
        if self.debug:
            text = f"{text}  _({self.host.name})_"
        self.replies.append(text)
        thread_ts = (self.thread_ts or self.ts) if thread else self.thread_ts
        try:
            more: dict[str, Any] = {"extra": extra} if extra else {}
            if blocks:
                more["blocks"] = blocks
            return self.host.say(text, thread_ts=thread_ts, reply_to=self.ts, **more)
        except Exception as e:  # noqa: BLE001 - the work is done; only its answer is lost
            # Done is done: the command is marked done (not failed, or the person would type
            # it again and a toggle would run twice); the log keeps what the answer said.
            if _passes(e):  # a 429 past the retries, a 5xx, a cut link: post it later
                self.plugin.log.warning("%s %s %r: its answer failed (%s); posting it later",
                                        self.host.name, self.ts, excerpt(self.text), e)
                backlog_for(self.host.name).later(
                    f"{self.ts} answer", lambda: self.host.say(
                        text, thread_ts=thread_ts, reply_to=self.ts, **more),
                    ts=self.ts, deadline=float(self.ts) + getattr(
                        getattr(self.host, "config", None), "max_command_age", MAX_ANSWER_AGE))
                return None
            self.answer_lost = True
            self.plugin.log.error("%s %s %r ran, but its answer was lost (%s: %s): %r",
                                  self.host.name, self.ts, excerpt(self.text),
                                  type(e).__name__, excerpt(str(e), 200), excerpt(text, 500))
            return None

    def gather(self, command_text: str, hosts: set[str], *, wait: float = 5.0,
               on_answer=None) -> dict[str, str]:
        """Ask other Pis (a broadcast command posted in this command's thread) and collect
        their answers, {host: text}; see Bot.gather."""
        return self.host.gather(command_text, hosts, thread_ts=self.thread_ts or self.ts,
                                on_behalf_of=self.user, wait=wait, on_answer=on_answer)

    def run(self, command_text: str, *, thread: bool = True) -> str | None:
        """Post a command for the federation to run (a scene step, a schedule firing)."""
        return self.host.post_command(command_text, on_behalf_of=self.user,
                                      thread_ts=(self.thread_ts or self.ts) if thread else None)


MAX_ANSWER_AGE = 900.0  # s after the command, when the host has no max_command_age


def _passes(e: Exception) -> bool:
    """An error that passes (rate limits, Slack's 5xx, the link): the call is worth again."""
    response = getattr(e, "response", None)
    if response is None:
        return isinstance(e, OSError)
    return getattr(response, "status_code", 200) in (429, 500, 502, 503, 504) or \
        response.get("error") in ("ratelimited", "service_unavailable", "fatal_error",
                                  "internal_error", "request_timeout")
