"""The answers the core gives itself: refusals, unknown commands, expired and interrupted
commands, commands no Pi here can run. A mixin of `troupe.core.Bot` (it uses the bot's
client, channel, seal and `say`); and `Command`, what those answers are about."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from troupe.config import NOT_A_USER
from troupe.help import unknown_answer
from troupe.text import escape, excerpt

if TYPE_CHECKING:
    from troupe.commands import CommandSpec
    from troupe.patterns import Match
    from troupe.plugin import Plugin

REPLY_EVENT = "troupe_reply"  # metadata event_type of answers to a command


@dataclass
class Command:
    """A channel message that is a command, and who gave it."""

    ts: str
    thread_ts: str | None
    text: str
    user: str
    source: str  # "live"; "history" (found pinned on catch-up) or "caught-up" (unpinned)
    reactions: list[dict[str, Any]]

    @property
    def quote(self) -> str:
        """The text, short and on one line: for answers that echo it, and for logs."""
        return excerpt(self.text)


class CoreAnswers:
    """What the bot answers on its own behalf (mixed into `troupe.core.Bot`)."""

    def _refuse(self, cmd: Command, why: str = NOT_A_USER) -> None:
        """One Pi refuses, with no pin and no marker (troupe.refusals)."""
        self.refusals.refuse(self.channel_id, cmd.ts, cmd.user, f"Sorry, {why}", cmd.quote)

    def _unknown(self, cmd: Command) -> None:
        text = unknown_answer(cmd.text, [spec for _, spec in self.commands])
        self.say(text, thread_ts=cmd.thread_ts, reply_to=cmd.ts)

    def _expired(self, cmd: Command, age: float | None = None, *, mark: bool = False) -> None:
        """Say `cmd` is too old to run (max_command_age). `age` given: it was posted while no
        Pi was online; None: it waited that long for Slack's budget (troupe.guard.expire).
        `mark`: answered with no claim, so record the outcome marker here (a Pi catching up
        later finds the command finished, not expired again)."""
        if age is None:
            age = self.mq.clock.now() - float(cmd.ts)
            why = "waited that long for Slack, which was holding the house back (too many " \
                  "commands at once)"
        else:
            why = "was posted while no Pi was online"
        self.say(f"`{cmd.quote}` expired: it {why}, {age / 60:.0f} min ago, so it was not run. "
                 f"Ask again if it is still wanted.", thread_ts=cmd.thread_ts or cmd.ts,
                 reply_to=cmd.ts, late=False)
        if mark:
            try:
                self.web.reactions_add(channel=self.channel_id, timestamp=cmd.ts,
                                       name=self.mq.markers.declined)
            except SlackApiError as e:
                if e.response.get("error") != "already_reacted":
                    raise

    def _report_interrupted(self, cmd: Command, holder: str | None, alive: bool = False) -> None:
        """`alive`: the holder renewed its claim (slackmq heartbeats), then went silent."""
        who = f"<@{holder}>" if holder else "another Pi"
        what = "did not finish" if alive else "stopped answering while running"
        text = (f"{who} {what} `{escape(cmd.quote)}`{' within the lease' if alive else ''}. It "
                f"may or may not have happened; not running it again. Check, and ask again if "
                f"needed.")
        self.web.chat_postMessage(
            channel=self.channel_id, thread_ts=cmd.thread_ts or cmd.ts, text=text,  # its parent
            metadata=self.seal.metadata(REPLY_EVENT, text,
                                        {"command_ts": cmd.ts, "host": self.name}))

    def _nobody_can(self, cmd: Command, plugin: Plugin, spec: CommandSpec, match: Match) -> bool:
        if self.target not in (None, self.name):
            reason = f"exclusive commands are targeted at {self.target}, which did not answer"
        else:
            explain = getattr(plugin, "unavailable_reason", None)
            reason = explain(spec, match.args) if explain else "no online Pi can run it"
        self.say(f"Nobody ran `{cmd.quote}`: {reason}.", thread_ts=cmd.thread_ts, reply_to=cmd.ts)
        return False
