"""``SlackWorkspace``: the emulator in process, served from a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from .server import SimServer

T = TypeVar("T")


class SlackWorkspace:
    """An emulated Slack workspace on 127.0.0.1 (HTTP Web API, Socket Mode, admin).

    Use as a context manager, or call start() and stop(). Every method is safe
    to call from any thread: it runs on the server's own event loop.
    """

    def __init__(
        self,
        apps: int = 3,
        channel: str = "home",
        rate_limits: str = "off",
        latency_ms: int = 0,
        port: int = 0,
        host: str = "127.0.0.1",
        ack_timeout: float = 3.0,
    ) -> None:
        self._server = SimServer(
            apps=apps,
            channel=channel,
            rate_limits=rate_limits,
            latency_ms=latency_ms,
            ack_timeout=ack_timeout,
        )
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> SlackWorkspace:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run, name="slack-sim", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError(f"the Slack emulator did not start: {self._error}") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._shutdown())
        loop.close()

    async def _serve(self) -> None:
        self._runner = web.AppRunner(self._server.build_app(), handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()
        port = self._runner.addresses[0][1]
        self._server.base_url = f"http://{self._host}:{port}/"
        self._server.hub.base_ws_url = f"ws://{self._host}:{port}/"

    async def _shutdown(self) -> None:
        await self._server.hub.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(15)
        self._thread = None

    def __enter__(self) -> SlackWorkspace:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Runs fn on the server loop (awaiting it if it is a coroutine function)."""
        loop = self._loop
        if loop is None or not self._ready.is_set():
            raise RuntimeError("the workspace is not started")

        async def run() -> Any:
            result = fn(*args, **kwargs)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        if threading.current_thread() is self._thread:
            raise RuntimeError("call SlackWorkspace methods from another thread")
        return asyncio.run_coroutine_threadsafe(run(), loop).result(60)

    # -- connection details ----------------------------------------------

    @property
    def server(self) -> SimServer:
        """The state behind the workspace; touch it only on its loop."""
        return self._server

    @property
    def info(self) -> dict[str, Any]:
        return self._server.info()

    @property
    def api_url(self) -> str:
        return self._server.base_url + "api/"

    @property
    def admin_url(self) -> str:
        return self._server.base_url + "_sim/"

    @property
    def team_id(self) -> str:
        return self._server.model.team_id

    @property
    def channel_id(self) -> str:
        return self._server.model.home.id

    @property
    def user(self) -> dict[str, str]:
        return self._server.model.person.public()

    @property
    def apps(self) -> list[dict[str, str]]:
        return [a.public() for a in self._server.model.apps.values()]

    def app(self, name: str) -> dict[str, str]:
        return self._server.model.apps[name].public()

    def add_user(self, name: str) -> dict[str, str]:
        return self._call(self._server.ctl_add_user, name)

    def post(self, text: str, user: str | None = None, thread_ts: str | None = None) -> str:
        """Posts a person's message as if typed in the channel; returns its ts."""
        return self._call(self._server.ctl_post, text, user, thread_ts)

    # -- faults ----------------------------------------------------------

    def close_connections(self, app: str, disconnect: str | None = None) -> int:
        """Closes the app's Socket Mode connections, after a disconnect message if given."""
        return self._call(self._server.ctl_close_connections, app, disconnect)

    def cut_off(self, app: str) -> None:
        """The app's calls hang, its websockets go silent and its events are held."""
        self._call(self._server.ctl_cut_off, app)

    def restore(self, app: str) -> None:
        self._call(self._server.ctl_restore, app)

    def set_event_delay(self, ms: float) -> None:
        self._call(self._server.ctl_set_event_delay, ms)

    def duplicate_events(self, enabled: bool = True) -> None:
        self._call(self._server.ctl_duplicate_events, enabled)

    def fail_method(
        self,
        method: str,
        mode: str = "5xx",
        error: str = "internal_error",
        count: int = 1,
        app: str | None = None,
        status: int = 500,
    ) -> None:
        """The next ``count`` calls of ``method`` (by ``app``, or anyone) fail."""
        self._call(self._server.ctl_fail_method, method, mode, error, count, app, status)

    def set_latency(self, ms: float) -> None:
        self._call(self._server.ctl_set_latency, ms)

    # -- inspection ------------------------------------------------------

    def messages(self, thread_ts: str | None = None) -> list[dict[str, Any]]:
        return self._call(self._server.ctl_messages, thread_ts)

    def pins(self) -> list[dict[str, Any]]:
        return self._call(self._server.ctl_pins)

    def reactions(self, ts: str) -> list[dict[str, Any]]:
        return self._call(self._server.ctl_reactions, ts)

    def call_counts(self) -> dict[str, dict[str, int]]:
        return self._call(self._server.ctl_call_counts)

    def connections(self, app: str) -> int:
        return self._call(self._server.ctl_connections, app)

    def apps_status(self) -> list[dict[str, Any]]:
        return self._call(self._server.ctl_apps)

    def log(self) -> dict[str, list[dict[str, Any]]]:
        """Append-only records: {"calls": [...], "deliveries": [...]}."""
        return self._call(self._server.ctl_log)
