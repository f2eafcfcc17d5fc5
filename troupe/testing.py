"""Test a plugin the way it runs: an emulated Slack and several real `troupe run` processes.

This module is a pytest plugin (registered through the `pytest11` entry point),
so any project that installs troupe gets the `troupe_federation` fixture:

    def test_garage(troupe_federation):
        fed = troupe_federation(hosts=2, plugins=["garage"], plugin_paths=[HERE],
                                config={"garage": {"pin": 17}})
        ts = fed.say("open garage")
        answer = fed.wait_for_answer(ts)
        assert "opening" in answer["text"]
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from troupe.federation import new_secret

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 30.0, what: str = "condition",
             interval: float = 0.05) -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)  # polling interval, not a wait for an event


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def dump_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for test configurations (tables, nested tables, scalars, lists)."""
    lines: list[str] = []

    def table(prefix: str, body: dict[str, Any]) -> None:
        scalars = {k: v for k, v in body.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in body.items() if isinstance(v, dict)}
        if prefix and (scalars or not tables):
            lines.append(f"[{prefix}]")
        for key, value in scalars.items():
            lines.append(f"{json.dumps(key)} = {_toml_value(value)}")
        if scalars:
            lines.append("")
        for key, value in tables.items():
            table(f"{prefix}.{json.dumps(key)}" if prefix else json.dumps(key), value)

    table("", data)
    return "\n".join(lines) + "\n"


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class Federation:
    """An emulated workspace and N hosts, each a real `troupe run` process."""

    def __init__(self, workdir: Path, hosts: int = 3, *, plugins: list[str] | None = None,
                 config: dict[str, Any] | None = None,
                 host_config: dict[str, dict[str, Any]] | None = None,
                 plugin_paths: list[str | os.PathLike] = (), env: dict[str, str] | None = None,
                 gpio: bool = False, rate_limits: str = "off", extra_apps: int = 0,
                 wrapper: list[str] | tuple[str, ...] = (), **workspace_kwargs: Any):
        from troupe.sim.slack import SlackWorkspace

        self.workdir = Path(workdir).resolve()  # the hosts run with cwd=workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host_names = [f"pi-{i}" for i in range(1, hosts + 1)]
        self.plugins = plugins
        self.config = config or {}
        self.host_config = host_config or {}
        self.plugin_paths = [str(p) for p in plugin_paths]
        self.env = env or {}  # for the hosts, over os.environ; a None value unsets that variable
        self.wrapper = list(wrapper)  # a command the hosts run under, such as an `unshare ...`
        # gpio=True: each host's mock pins are served on its own socket (troupe.sim.gpio), in
        # a short folder of its own (a UNIX socket path must stay under 108 bytes).
        self.gpio_dir = tempfile.mkdtemp(prefix="troupe-gpio-") if gpio else None
        self.rate_limits = rate_limits  # the emulator's: "off", or Slack's "real" ones
        self.ws = SlackWorkspace(apps=hosts + extra_apps, rate_limits=rate_limits,
                                 **workspace_kwargs)
        self.secret = new_secret()  # the house's federation secret (troupe.federation)
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, Any] = {}
        self._started = False

    # ---- lifecycle --------------------------------------------------------
    def start(self, hosts: list[str] | None = None, wait: bool = True) -> Federation:
        if not self._started:
            self.ws.start()
            self._started = True
        for name in hosts or self.host_names:
            if not self.running(name):
                self.start_host(name, wait=False)
        if wait:
            for name in hosts or self.host_names:
                self.wait_ready(name)
        return self

    def config_for(self, name: str) -> dict[str, Any]:
        app = self.ws.app(name)
        base: dict[str, Any] = {
            "slack": {"bot_token": app["bot_token"], "app_token": app["app_token"],
                      "channel": self.ws.info["channel"]["name"], "api_url": self.ws.api_url,
                      # an emulator without limits: no pace until a 429 says otherwise
                      "rate_limits": "none" if self.rate_limits == "off" else "slack"},
            "host": {"name": name, "state_dir": str(self.workdir / "state")},
            "auth": {"users": [self.ws.user["id"]]},
            "federation": {"secret": self.secret},
            "troupe": {"lease": 5, "no_taker_wait": 2},
        }
        if self.plugins is not None or self.plugin_paths:
            base["plugins"] = {}
            if self.plugins is not None:
                base["plugins"]["enabled"] = list(self.plugins)
            if self.plugin_paths:
                base["plugins"]["paths"] = self.plugin_paths
        return _merge(_merge(base, self.config), self.host_config.get(name, {}))

    def config_path(self, name: str) -> Path:
        return self.workdir / f"{name}.toml"

    def running(self, name: str) -> bool:
        """Whether this host's `troupe run` process is alive."""
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def start_host(self, name: str, wait: bool = True) -> None:
        if self.running(name):
            # A second process would take the same app's events, and lose its handle.
            raise RuntimeError(f"{name} is already running (pid {self.procs[name].pid}); "
                               "kill or stop it first")
        path = self.config_path(name)
        path.write_text(dump_toml(self.config_for(name)))
        log_path = self.workdir / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - kept open for the process's life
        log.write(f"--- start {time.strftime('%H:%M:%S')}\n".encode())
        log.flush()
        self._logs[name] = (log, log_path, log_path.stat().st_size)
        env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "PYTHONUNBUFFERED": "1", **self.env}
        if self.gpio_dir:
            env.update(GPIOZERO_PIN_FACTORY="troupe_sim",
                       TROUPE_SIM_GPIO_SOCKET=self.gpio_socket(name))
        env.pop("TROUPE_SLACK_BOT_TOKEN", None)
        env.pop("TROUPE_SLACK_APP_TOKEN", None)
        env = {k: v for k, v in env.items() if v is not None}
        self.procs[name] = subprocess.Popen(
            [*self.wrapper, sys.executable, "-m", "troupe", "run", "--config", str(path)],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir)
        if wait:
            self.wait_ready(name)

    def gpio_socket(self, name: str) -> str:
        if not self.gpio_dir:
            raise RuntimeError("start the Federation with gpio=True to reach its pins")
        return os.path.join(self.gpio_dir, f"{name}.sock")

    def gpio(self, name: str):
        """A client for a host's mock pins: state(), drive(pin, value), wait_for(...)."""
        from troupe.sim.gpio import GpioClient

        return GpioClient(self.gpio_socket(name))

    def wait_ready(self, name: str, timeout: float = 30.0) -> None:
        def ready() -> bool:
            proc = self.procs[name]
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")
            return " ready: " in self.log(name, since_start=True)

        wait_for(ready, timeout, f"{name} to connect")

    def kill(self, name: str) -> None:
        """Kill a host at once (SIGKILL): a Pi losing power."""
        if self.running(name):
            self.procs[name].kill()
            self.procs[name].wait(10)

    def stop_host(self, name: str, timeout: float = 20.0) -> int | None:
        """Stop a host the polite way (SIGTERM), as the service manager does."""
        proc = self.procs.get(name)
        if proc and self.running(name):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return proc.returncode if proc else None

    def restart(self, name: str, wait: bool = True) -> None:
        self.kill(name)
        self.start_host(name, wait=wait)

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name)
        for log, _, _ in self._logs.values():
            log.close()
        if self._started:
            self.ws.stop()
            self._started = False
        if self.gpio_dir:
            shutil.rmtree(self.gpio_dir, ignore_errors=True)

    def __enter__(self) -> Federation:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- talking to it --------------------------------------------------------
    def say(self, text: str, user: dict[str, Any] | str | None = None,
            thread_ts: str | None = None) -> str:
        """Post `text` as a person (the authorized one unless `user` is given); returns its ts."""
        user_id = user["id"] if isinstance(user, dict) else user
        return self.ws.post(text, user=user_id, thread_ts=thread_ts)

    def bot_messages(self, after: str | None = None, thread_ts: str | None = None
                     ) -> list[dict[str, Any]]:
        """Bot messages in the channel (or a thread) posted after `after`."""
        messages = self.ws.messages(thread_ts=thread_ts) if thread_ts else self.ws.messages()
        return [m for m in messages if m.get("bot_id")
                and (after is None or float(m["ts"]) > float(after))
                and m.get("ts") != thread_ts]

    def answers_to(self, ts: str) -> list[dict[str, Any]]:
        """Bot answers to the command at `ts` (they name it in their metadata), oldest first."""
        found = {}
        for thread_ts in (None, ts):
            for m in self.bot_messages(thread_ts=thread_ts):
                payload = (m.get("metadata") or {}).get("event_payload") or {}
                if payload.get("command_ts") == ts:
                    found[m["ts"]] = m
        return [found[k] for k in sorted(found, key=float)]

    def wait_for_answer(self, ts: str, timeout: float = 20.0) -> dict[str, Any]:
        return wait_for(lambda: self.answers_to(ts)[:1], timeout, f"an answer to {ts}")[0]

    def host_of(self, message: dict[str, Any]) -> str:
        """Which host posted a bot message."""
        for app in self.ws.apps:
            if app["bot_id"] == message.get("bot_id"):
                return app["name"]
        return "?"

    def log(self, name: str, since_start: bool = False) -> str:
        if name not in self._logs:
            return ""
        _, path, start = self._logs[name]
        data = path.read_bytes()
        return (data[start:] if since_start else data).decode(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"==== {n}\n{self.log(n)}" for n in self.host_names)


@pytest.fixture
def troupe_federation(tmp_path: Path) -> Iterator[Callable[..., Federation]]:
    """Start an emulated workspace and N `troupe run` hosts: `troupe_federation(hosts=3, ...)`."""
    started: list[Federation] = []

    def make(hosts: int = 3, **kwargs: Any) -> Federation:
        fed = Federation(tmp_path / f"federation-{len(started)}", hosts, **kwargs)
        started.append(fed)
        return fed.start()

    yield make
    for fed in started:
        fed.stop()
        print(fed.logs())  # shown by pytest only when the test failed

