"""Configuration: one TOML file, secrets optionally from the environment.

Every mistake is collected and reported together, each naming the key, the
value found and what was expected, before anything connects.
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from troupe.authors import FEDERATION
from troupe.federation import SECRET_ENV, SECRET_MIN
from troupe.secrets import mask
from troupe.state import default_state_dir

TOKEN_ENV = {"bot_token": "TROUPE_SLACK_BOT_TOKEN", "app_token": "TROUPE_SLACK_APP_TOKEN"}
CORE_SECTIONS = ("slack", "host", "auth", "plugins", "troupe", "aliases", "federation")
NOT_A_USER = ("you are not allowed to command this house. "
              "Ask its owner to add your user ID to [auth] users.")
NOT_AN_ADMIN = ("only the house's admins may run `{}`. "
                "Ask its owner to add your user ID to [auth] admins.")
PREFERRED_CLAIMS_DEFAULT = True  # [troupe] preferred_claims when not set (bench/notes.md)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration."""

    key: str
    value: Any
    expected: str

    def __post_init__(self) -> None:
        # whatever the key (a misspelt `bot-token`, a URL with a password), a value that
        # looks like a token is never echoed: not to the terminal, not to the journal
        object.__setattr__(self, "value", mask(self.value))

    def __str__(self) -> str:
        if self.value is MISSING:
            return f"{self.key}: missing; expected {self.expected}"
        return f"{self.key} = {self.value!r}: expected {self.expected}"


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


class ConfigError(Exception):
    """The configuration has problems; `problems` lists every one of them."""

    def __init__(self, problems: Iterable[Problem], path: str | os.PathLike | None = None):
        self.problems = list(problems)
        self.path = path
        where = f" in {path}" if path else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} configuration problem(s){where}:\n{lines}")


@dataclass
class SlackSettings:
    bot_token: str
    app_token: str
    channel: str
    api_url: str | None = None
    rate_limits: str = "slack"  # "none": an endpoint without Slack's limits (an emulator)

    def __repr__(self) -> str:  # tokens never reach a log, not even through repr()
        return f"SlackSettings(channel={self.channel!r}, api_url={self.api_url!r}, tokens=<hidden>)"


@dataclass
class Config:
    slack: SlackSettings
    host_name: str
    auth_users: list[str]
    plugins_enabled: list[str] | None
    plugin_paths: list[str]
    max_command_age: float = 300.0
    lease: float = 30.0
    no_taker_wait: float = 3.0
    preferred_claims: bool = False  # see troupe.guard: one claim per command, not one per Pi
    preferred_window: float | None = None  # seconds; None: the guard's default
    spare_connection: float = 60.0  # seconds after connecting: a second Socket Mode connection
    aliases: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    state_dir: str = ""  # where this Pi keeps what chat told it (troupe.state)
    auth_admins: list[str] = field(default_factory=list)  # empty: users may run admin commands
    federation_secret: str = field(default="", repr=False)  # troupe.federation: the Pis' proof

    def may_administer(self, user: str) -> bool:
        """Whether `user` (already allowed to command) may run an ``admin`` command: one of
        ``[auth] admins``, anyone allowed while it is empty, or the federation itself (a
        command from the configuration, such as a schedule)."""
        return not self.auth_admins or user in self.auth_admins or user == FEDERATION

    def section(self, name: str) -> dict[str, Any]:
        """A plugin's own top-level table (empty if absent)."""
        value = self.raw.get(name, {})
        return value if isinstance(value, dict) else {}


class Checker:
    """Collects problems while reading a mapping; used by the core and by plugins."""

    def __init__(self, data: Mapping[str, Any], prefix: str = ""):
        self.data = data
        self.prefix = prefix
        self.problems: list[Problem] = []

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def problem(self, name: str, value: Any, expected: str) -> None:
        self.problems.append(Problem(self.key(name), value, expected))

    def get(
        self,
        name: str,
        kind: type | tuple[type, ...],
        expected: str,
        *,
        default: Any = MISSING,
        valid: Callable[[Any], bool] | None = None,
    ) -> Any:
        """Read `name`; report a missing required key, a wrong type or an invalid value."""
        value = self.data.get(name, MISSING)
        if value is MISSING:
            if default is MISSING:
                self.problem(name, MISSING, expected)
                return None
            return default
        # bool is an int in Python; a config that says `lease = true` is a mistake.
        kinds = kind if isinstance(kind, tuple) else (kind,)
        wrong_bool = isinstance(value, bool) and bool not in kinds
        if wrong_bool or not isinstance(value, kind) or (valid is not None and not valid(value)):
            self.problem(name, value, expected)
            return None if default is MISSING else default
        return value

    def unknown_keys(self, known: Iterable[str]) -> None:
        known = set(known)
        for name, value in self.data.items():
            if name not in known:
                self.problem(name, value, f"one of {', '.join(sorted(known))} (unknown key)")


# Where a newcomer finds each token (README, "Connect to real Slack").
PASTE = {"bot_token": "the Slack app's Bot User OAuth Token (xoxb-...)",
         "app_token": "an app-level token with connections:write (xapp-...)"}


def is_placeholder_token(token: str) -> bool:
    """Whether `token` is a documentation placeholder ("xoxb-...", "xapp-<yours>", "xoxb-xxxx")
    rather than a token: Slack would refuse it only once the Pi connects."""
    rest = token.split("-", 1)[1] if "-" in token else ""
    if any(mark in rest for mark in ("...", "\u2026", "<", ">")) or any(c.isspace() for c in rest):
        return True
    return not rest.strip("-.*xX")


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError([Problem("(file)", str(path), "an existing TOML file")], path) from None
    except IsADirectoryError:
        raise ConfigError([Problem("(file)", str(path), "a TOML file, not a folder")],
                          path) from None
    except PermissionError:
        raise ConfigError([Problem("(file)", str(path), "a TOML file this user may read "
                                   "(the service reads it as the troupe user)")], path) from None
    except OSError as e:
        raise ConfigError([Problem("(file)", str(path),
                                   f"a readable TOML file ({e.strerror or e})")], path) from None
    except UnicodeDecodeError as e:
        line = e.object[:e.start].count(b"\n") + 1
        raise ConfigError([Problem("(file)", str(path), f"a TOML file in UTF-8 (line {line}: "
                                   f"{e.object[e.start:e.start + 1]!r} is not UTF-8)")],
                          path) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([Problem("(file)", str(path), f"valid TOML ({e})")], path) from None


def _state_dir(value: str | None, path: str | None, env: Mapping[str, str]) -> str:
    """[host] state_dir (relative: to the configuration file's folder), else the default."""
    if not value:
        return str(default_state_dir(env))
    folder = Path(value).expanduser()
    return str(Path(path).parent / folder if path else folder)


def parse_config(
    raw: dict[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    path: str | None = None,
    plugin_sections: Iterable[str] = (),
) -> tuple[Config | None, list[Problem]]:
    """Check the core sections; return the Config (None if unusable) and the problems."""
    env = os.environ if env is None else env
    problems: list[Problem] = []

    def table(name: str) -> dict[str, Any]:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            problems.append(Problem(name, value, "a table ([" + name + "])"))
            return {}
        return value

    slack = Checker(table("slack"), "slack")
    tokens: dict[str, str | None] = {}
    for key, var in TOKEN_ENV.items():
        prefix = "xoxb-" if key == "bot_token" else "xapp-"
        if key in slack.data:
            value = slack.data[key]
            tokens[key] = value if isinstance(value, str) and value.startswith(prefix) else None
            if tokens[key] is None:  # never echo what may be a real token
                slack.problem(key, "<hidden>", f"a token starting with {prefix}")
            elif is_placeholder_token(value):
                tokens[key] = None
                slack.problem(key, value, f"this Pi's own token, not a placeholder: {PASTE[key]} "
                                          f"(or remove the line and set {var})")
        elif env.get(var):
            tokens[key] = env[var]
            if not tokens[key].startswith(prefix):
                problems.append(Problem(var, "<hidden>", f"a token starting with {prefix}"))
            elif is_placeholder_token(tokens[key]):
                tokens[key] = None
                problems.append(Problem(var, env[var], "this Pi's own token, not a placeholder: "
                                                       + PASTE[key]))
        else:
            slack.problem(key, MISSING, f"a token starting with {prefix} (or set {var})")
            tokens[key] = None
    channel = slack.get("channel", str, "a channel name or ID, such as \"home\"",
                        valid=lambda v: bool(v.strip().lstrip("#")))
    api_url = slack.get("api_url", str, "an http(s) URL ending in /api/", default=None,
                        valid=lambda v: v.startswith(("http://", "https://")))
    rate_limits = slack.get("rate_limits", str,
                            '"slack" (pace calls by Slack\'s documented limits) '
                            'or "none" (an endpoint without them, such as `troupe sim`)',
                            default="slack", valid=lambda v: v in ("slack", "none"))
    slack.unknown_keys(["bot_token", "app_token", "channel", "api_url", "rate_limits"])
    problems += slack.problems

    host = Checker(table("host"), "host")
    host_name = host.get("name", str, "a short name for this Pi", default=socket.gethostname(),
                         valid=lambda v: bool(v.strip()) and " " not in v)
    state_dir = host.get("state_dir", str,
                         "a folder where this Pi keeps what chat told it (target, debug)",
                         default=None, valid=lambda v: bool(v.strip()))
    host.unknown_keys(["name", "state_dir"])
    problems += host.problems

    auth = Checker(table("auth"), "auth")
    users = auth.get("users", list, "a list of Slack user IDs such as [\"U0123ABCD\"]", default=[],
                     valid=lambda v: all(isinstance(u, str) and u[:1] in "UW" for u in v))
    admins = auth.get("admins", list,
                      "a list of Slack user IDs, each also in auth.users, allowed to run "
                      "update, rollback, target and debug", default=[],
                      valid=lambda v: all(isinstance(u, str) and u[:1] in "UW" for u in v))
    for admin in admins or []:
        if isinstance(users, list) and admin not in users:
            auth.problem("admins", admin, "only people also listed in auth.users "
                                          f"(add {admin} to auth.users, or remove it here)")
    auth.unknown_keys(["users", "admins"])
    problems += auth.problems

    federation = Checker(table("federation"), "federation")
    secret = federation.data.get("secret", env.get(SECRET_ENV))
    make_one = ("run `troupe secret` once and give every Pi of the house the same value "
                f"([federation] secret, or {SECRET_ENV} in /etc/troupe/env)")
    if not secret:
        federation.problem("secret", MISSING, "the federation secret, which proves a message "
                                              f"comes from one of this house's Pis: {make_one}")
    elif not isinstance(secret, str) or len(secret.strip()) < SECRET_MIN:
        federation.problem("secret", "<hidden>", f"at least {SECRET_MIN} characters: {make_one}")
        secret = None
    for name in federation.data:  # never echoed: it may be the secret, misspelt
        if name != "secret":
            federation.problem(name, "<hidden>", "secret (unknown key)")
    problems += federation.problems

    plugins = Checker(table("plugins"), "plugins")
    enabled = plugins.get("enabled", list, "a list of plugin names", default=None,
                          valid=lambda v: all(isinstance(p, str) for p in v))
    paths = plugins.get("paths", list, "a list of folders holding plugin modules", default=[],
                        valid=lambda v: all(isinstance(p, str) for p in v))
    plugins.unknown_keys(["enabled", "paths"])
    problems += plugins.problems

    core = Checker(table("troupe"), "troupe")
    def positive(v: float) -> bool:
        return v > 0

    max_age = core.get("max_command_age", (int, float), "seconds, a positive number",
                       default=300, valid=positive)
    lease = core.get("lease", (int, float), "seconds, a positive number", default=30,
                     valid=positive)
    no_taker = core.get("no_taker_wait", (int, float), "seconds, a positive number", default=3,
                        valid=positive)
    preferred = core.get("preferred_claims", bool,
                         "true or false: whether the Pis take turns to claim a command",
                         default=PREFERRED_CLAIMS_DEFAULT)
    window = core.get("preferred_window", (int, float),
                      "seconds, a positive number (how long each Pi in line waits)",
                      default=None, valid=positive)
    spare = core.get("spare_connection", (int, float),
                     "seconds, 0 or more (when the second Socket Mode connection opens)",
                     default=60, valid=lambda v: v >= 0)
    if window is not None and core.data.get("preferred_claims") is False:
        core.problem("preferred_window", window,
                     "no preferred_window while preferred_claims = false (remove one of them)")
    core.unknown_keys(["max_command_age", "lease", "no_taker_wait", "preferred_claims",
                       "preferred_window", "spare_connection"])
    problems += core.problems

    aliases = {}
    for name, value in table("aliases").items():
        if isinstance(value, str) and value.strip() and name.strip():
            aliases[" ".join(name.lower().split())] = value.strip()
        else:
            problems.append(Problem(f"aliases.{name}", value,
                                    "a command to run, such as \"scene goodnight\""))

    known = set(CORE_SECTIONS) | set(plugin_sections)
    for name, value in raw.items():
        if name not in known:
            problems.append(Problem(name, value if not isinstance(value, dict) else "[table]",
                                    "a known section: " + ", ".join(sorted(known))))

    if any(v is None for v in (tokens["bot_token"], tokens["app_token"], channel)) or not secret:
        return None, problems
    config = Config(
        slack=SlackSettings(tokens["bot_token"], tokens["app_token"], channel.strip().lstrip("#"),
                            api_url, rate_limits or "slack"),
        host_name=host_name,
        auth_users=list(users or []),
        auth_admins=list(admins or []),
        federation_secret=str(secret).strip(),
        plugins_enabled=enabled,
        plugin_paths=[str(Path(path).parent / p) if path else p for p in (paths or [])],
        max_command_age=float(max_age or 300),
        lease=float(lease or 30),
        no_taker_wait=float(no_taker or 3),
        preferred_claims=bool(preferred),
        preferred_window=float(window) if window is not None else None,
        spare_connection=float(60 if spare is None else spare),
        aliases=aliases,
        raw=raw,
        path=path,
        state_dir=_state_dir(state_dir, path, env),
    )
    return config, problems
