"""``SlackWorkspace``: the emulator in process, served from a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
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
        full_metadata_events: bool = False,
        refresh_every: float | None = None,
        hold_limit: float = 60.0,
    ) -> None:
        """``refresh_every``: Slack's connection refreshes, sped up: every that many
        seconds each app's oldest connection is refreshed (``refresh``).

        ``hold_limit``: how long events for an app with no connection wait for one before
        they are dropped (the app finds them in history when it comes back).

        ``full_metadata_events``: live message events carry ``metadata.event_payload``
        too; by default they carry only ``event_type``, as Slack sends them to an app that
        did not declare the type (read the payload with include_all_metadata)."""
        self._server = SimServer(
            apps=apps,
            channel=channel,
            rate_limits=rate_limits,
            latency_ms=latency_ms,
            ack_timeout=ack_timeout,
            full_metadata_events=full_metadata_events,
            hold_limit=hold_limit,
        )
        self._refresh_every = refresh_every
        self._host = host
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._refresher: asyncio.Future[None] | None = None

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
        if self._refresh_every:
            self._refresher = asyncio.ensure_future(
                self._server.hub.refresh_every(self._refresh_every))

    async def _shutdown(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
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
        """Runs fn on the server loop (awaiting it if it is a coroutine function).

        On the loop itself (from a listener) a plain function runs at once; an
        asynchronous one (close_connections) cannot, and raises.
        """
        loop = self._loop
        if loop is None or not self._ready.is_set():
            raise RuntimeError("the workspace is not started")
        if threading.current_thread() is self._thread:
            result = fn(*args, **kwargs)
            if asyncio.iscoroutine(result):
                result.close()
                raise RuntimeError(
                    f"{getattr(fn, '__name__', fn)} waits on the emulator's loop: "
                    "call it from another thread, not from a listener"
                )
            return result

        async def run() -> Any:
            result = fn(*args, **kwargs)
            if asyncio.iscoroutine(result):
                result = await result
            return result

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
        return self._call(self._server.controls.add_user, name)

    def add_emoji(self, name: str) -> str:
        """Adds a custom emoji to the workspace (reactions.add refuses unknown names)."""
        return self._call(self._server.controls.add_emoji, name)

    def post(self, text: str, user: str | None = None, thread_ts: str | None = None) -> str:
        """Posts a person's message as if typed in the channel; returns its ts."""
        return self._call(self._server.controls.post, text, user, thread_ts)

    def click(self, message_ts: str, action_id: str, *, value: str | None = None,
              user: str | None = None) -> dict[str, Any]:
        """A person (``user``: id or name; the workspace's person by default) clicks the
        element ``action_id`` of a message: the app that posted it, and only that app, gets a
        ``block_actions`` interaction over Socket Mode, redelivered until acknowledged.
        Returns ``{"app", "action_ts", "delivered"}``: ``delivered`` False when that app has
        no usable connection (gone, cut off): Slack shows the person the click failed and
        does not keep it for later."""
        return self._call(self._server.controls.click, message_ts, action_id, value, user)

    def click_home(self, app_name: str, action_id: str, *, value: str | None = None,
                   user: str | None = None) -> dict[str, Any]:
        """A click on the Home tab the app published for ``user``."""
        return self._call(self._server.controls.click_home, app_name, action_id, value, user)

    def open_home(self, app_name: str, user: str | None = None,
                  timeout: float = 10.0) -> dict[str, Any]:
        """A person opens the app's Home tab: the app gets ``app_home_opened``; returns the
        view it then publishes for that person (``views.publish``), waiting up to ``timeout``
        seconds (TimeoutError if it publishes none)."""
        return self._call(self._server.controls.open_home, app_name, user, timeout)

    def home_view(self, app_name: str, user: str | None = None) -> dict[str, Any] | None:
        """The Home view the app last published for ``user``, or None."""
        return self._call(self._server.controls.home_view, app_name, user)

    # -- listeners -------------------------------------------------------

    def add_listener(
        self, fn: Callable[[dict[str, Any]], None], types: Iterable[str] | None = None
    ) -> None:
        """Call ``fn(event)`` for every change in the workspace from now on.

        ``event`` is the item the admin feed (``/_sim/events``) sends, a fresh
        copy for each listener: ``{"seq", "time", "type", ...}``. Channel events
        (``CHANNEL_EVENTS``) carry ``channel``, ``ts`` and ``message``: the
        message as the Web API renders it (reactions, ``pinned_to``, thread
        fields) with its ``metadata`` when it was posted with some:

        - ``message_posted``, ``message_updated``: the message as it now is;
        - ``message_deleted``: the message as it was;
        - ``pin_added``, ``pin_removed``: ``by`` (user id), the message after;
        - ``reaction_added``, ``reaction_removed``: ``reaction``, ``user``, the
          message after.

        The other types are ``ephemeral`` and the apps' ``app_connected``,
        ``app_disconnected`` (with ``app``, ``connections``), ``app_refreshed``
        (with ``app``, ``connection``), ``app_cut_off`` and ``app_restored``.
        Pass ``types`` (e.g. ``CHANNEL_EVENTS``) to get only those. May be called
        before ``start()``.

        ``fn`` runs on the emulator's loop, synchronously, as the change is
        made, before the API call that made it answers (its Socket Mode
        envelopes are already queued). So it must be quick and not block; it may
        call this workspace's plain methods (``cut_off``, ``post``, ``pins``
        ...), not ``close_connections``. Changes it makes reach listeners after
        the current event. An exception in ``fn`` is logged and ignored.
        """
        self._server.add_listener(fn, types)

    def remove_listener(self, fn: Callable[[dict[str, Any]], None]) -> bool:
        """Stop calling ``fn`` (compared with ``==``); False when it was not listening."""
        return self._server.remove_listener(fn)

    # -- faults ----------------------------------------------------------

    def close_connections(self, app: str, disconnect: str | None = None) -> int:
        """Closes the app's Socket Mode connections, after a disconnect message if given."""
        return self._call(self._server.controls.close_connections, app, disconnect)

    def refresh(self, app: str) -> bool:
        """Slack's refresh of one connection: the app's oldest is told ``disconnect`` /
        ``refresh_requested``, gets no more events and closes a second later."""
        return self._call(self._server.controls.refresh, app)

    def cut_off(self, app: str) -> None:
        """The app's calls hang, its websockets go silent and its events are held."""
        self._call(self._server.controls.cut_off, app)

    def restore(self, app: str) -> None:
        self._call(self._server.controls.restore, app)

    def set_event_delay(self, ms: float) -> None:
        self._call(self._server.controls.set_event_delay, ms)

    def duplicate_events(self, enabled: bool = True) -> None:
        self._call(self._server.controls.duplicate_events, enabled)

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
        self._call(self._server.controls.fail_method, method, mode, error, count, app, status)

    def set_latency(self, ms: float) -> None:
        self._call(self._server.controls.set_latency, ms)

    # -- inspection ------------------------------------------------------

    def messages(self, thread_ts: str | None = None) -> list[dict[str, Any]]:
        return self._call(self._server.controls.messages, thread_ts)

    def scheduled(self) -> list[dict[str, Any]]:
        """Every app's pending scheduled messages, with ``author`` (the app's name)."""
        return self._call(self._server.controls.scheduled)

    def pins(self) -> list[dict[str, Any]]:
        return self._call(self._server.controls.pins)

    def reactions(self, ts: str) -> list[dict[str, Any]]:
        return self._call(self._server.controls.reactions, ts)

    def call_counts(self) -> dict[str, dict[str, int]]:
        return self._call(self._server.controls.call_counts)

    def connections(self, app: str) -> int:
        return self._call(self._server.controls.connections, app)

    def apps_status(self) -> list[dict[str, Any]]:
        return self._call(self._server.controls.apps)

    def log(self) -> dict[str, list[dict[str, Any]]]:
        """Append-only records: {"calls": [...], "deliveries": [...]}."""
        return self._call(self._server.controls.log)
