"""`troupe demo`: a whole emulated household in the browser.

An emulated Slack workspace, an emulated Hue bridge, N real `troupe run`
processes (pi-1 ... pi-N) with mock GPIO pins, and a page on
http://127.0.0.1:PORT that shows the channel, the house and the Pis, live.
Ctrl-C (or SIGTERM) stops every part of it.

    troupe demo [--port 8080] [--hosts 3] [--workdir DIR] [--rate-limits off|real]

Without --port it serves on 8080, or on a free port when 8080 is taken.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web

import troupe
from troupe.demo.chat import Chat
from troupe.demo.configs import checked_plugin_config, house_view
from troupe.demo.errors import DemoError
from troupe.demo.gpio_watch import GpioWatch
from troupe.demo.hosts import Pi
from troupe.demo.house import HUE_GROUPS, HUE_LIGHTS, LEASE_S, House, sim_gpio_available
from troupe.demo.source import LocalSource, make_local_source
from troupe.demo.updates import UpdateSteps
from troupe.demo.web import HOSTS_KEY, Page, build_app
from troupe.text import escape

_ROLL_CALL = re.compile(r"^- (pi-\d+): version (\S+?),", re.MULTILINE)  # a line per Pi
READY_TIMEOUT_S = 60.0
DEFAULT_PORT = 8080
MOTION_PULSE_S = 3.0


class Demo:
    """Every part of the demo, run on one asyncio loop (the emulators have their own threads)."""

    def __init__(self, hosts: int = 3, port: int | None = DEFAULT_PORT,
                 workdir: Path | None = None, rate_limits: str = "off") -> None:
        """`port` None: DEFAULT_PORT, or any free port when that one is taken."""
        self.hosts, self.rate_limits = hosts, rate_limits
        self.port, self.port_fallback = (DEFAULT_PORT, True) if port is None else (port, False)
        self.fell_back_from: int | None = None  # the taken port, when it served on another
        self.keep_workdir = workdir is not None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="troupe-demo-")).resolve()
        self.house = House.detect(hosts, self.workdir)
        self.updates = UpdateSteps(self.house.host_names)
        self.page = Page(self.snapshot)
        self.pis: dict[str, Pi] = {}
        self.gpio: dict[str, GpioWatch] = {}
        self.apps: dict[str, dict[str, Any]] = {}
        self.hue_states: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []
        self.source: LocalSource | None = None
        self.trap_armed = False
        self.trap_after = 0.0  # the trap springs on a pin of a message posted after this
        self.url = ""
        self.started = time.monotonic()
        self.ready_s: float | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._closing = False
        self._pulses: dict[str, asyncio.TimerHandle] = {}
        self.ws: Any = None
        self.hue: Any = None
        self.chat: Chat | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Emulators, then the page (its address is known from here on), then the Pis."""
        from troupe.sim.hue import HueBridge
        from troupe.sim.slack import SlackWorkspace

        self.loop = asyncio.get_running_loop()
        self.ws = SlackWorkspace(apps=self.hosts, channel="home", rate_limits=self.rate_limits)
        await asyncio.to_thread(self.ws.start)
        self.hue = HueBridge(lights=HUE_LIGHTS, plugs=[], groups=HUE_GROUPS).start()
        self.chat = Chat(self.ws.user, self.ws.apps)
        self.apps = {a["name"]: {"connections": 0, "cut_off": False} for a in self.ws.apps}
        self.ws.add_listener(self._on_workspace_event)
        await self._serve()
        if "update" in self.house.plugins:
            try:
                self.source = await asyncio.to_thread(make_local_source,
                                                      self.workdir / "release-source")
            except Exception as e:  # noqa: BLE001 - the demo runs without updates
                self.house.plugins.remove("update")
                self.notes.append(f"plugin update left out: no local release source ({e})")
        plugin_config, problems = await asyncio.to_thread(
            checked_plugin_config, self.house, self.ws.info, self.hue.info,
            self.source.update_config() if self.source else None)
        self.notes += problems
        use_gpio = sim_gpio_available()
        for name in self.house.host_names:
            sock = self._socket_path(name)
            env = {"GPIOZERO_PIN_FACTORY": "troupe_sim" if use_gpio else "mock",
                   "TROUPE_SIM_GPIO_SOCKET": str(sock) if use_gpio else ""}
            config = self.house.config_for(name, self.ws.info, plugin_config)
            self.pis[name] = Pi(name, self.workdir, config, env, self.house.release_root(name),
                                self._on_pi)
            self.gpio[name] = GpioWatch(name, sock, self._on_pins)
        for pi in self.pis.values():
            await pi.start()
        self.hue.add_listener(self._on_hue_change)
        self._refresh_hue()

    async def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> bool:
        """True once every Pi is online; also records how long start-up took."""
        results = await asyncio.gather(*(pi.wait_ready(timeout) for pi in self.pis.values()))
        if all(results):
            self.ready_s = time.monotonic() - self.started
        return all(results)

    async def _serve(self) -> None:
        app = build_app(self)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        try:
            await site.start()
        except OSError as e:
            in_use = e.errno == errno.EADDRINUSE
            if not (in_use and self.port_fallback):
                why = "another program (another demo?) is using it" if in_use else e.strerror
                other = self.port + 1 if 0 < self.port < 65535 else DEFAULT_PORT + 1
                raise DemoError(
                    f"cannot serve on 127.0.0.1:{self.port}: {why}. Pick another port: "
                    f"`make demo PORT={other}` or `troupe demo --port {other}` (0: any free port)"
                ) from e
            self.fell_back_from = self.port
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
        port = self._runner.addresses[0][1]
        app[HOSTS_KEY].update({f"127.0.0.1:{port}", f"localhost:{port}"})
        self.url = f"http://127.0.0.1:{port}/"

    async def stop(self) -> None:
        """Stop the Pis (SIGTERM, then SIGKILL), the page and the emulators; tidy up."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for watch in self.gpio.values():
            watch.stop()
        await asyncio.gather(*(pi.terminate() for pi in self.pis.values()),
                             return_exceptions=True)
        await self.page.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.hue is not None:
            self.hue.remove_listener(self._on_hue_change)
            self.hue.stop()
        if self.ws is not None:
            await asyncio.to_thread(self.ws.stop)
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _socket_path(self, name: str) -> Path:
        path = self.workdir / f"{name}.gpio"
        if len(str(path)) > 100:  # AF_UNIX paths are short
            path = Path(tempfile.mkdtemp(prefix="troupe-gpio-")) / name
        return path

    # -- what the page sees --------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        ws_info = self.ws.info if self.ws is not None else {}
        return {
            "version": troupe.__version__,
            "channel": ws_info.get("channel", {}).get("name", "home"),
            "me": (ws_info.get("user") or {}).get("name", "you"),
            "messages": self.chat.snapshot() if self.chat else [],
            "activity": list(self.chat.activity) if self.chat else [],
            "pis": self.pi_views(),
            "house": self.house_view(),
            "hints": self.house.hints(),
            "plugins": ["core", *self.house.plugins],
            "notes": list(self.notes),
            "update": self.update_view(),
            "trap": self.trap_armed,
            "lease_s": LEASE_S,
            "ready_s": round(self.ready_s, 2) if self.ready_s else None,
        }

    def pi_views(self) -> list[dict[str, Any]]:
        views = []
        for name, pi in self.pis.items():
            view = pi.status()
            app = self.apps.get(name, {})
            view.update(connections=app.get("connections", 0), cut_off=app.get("cut_off", False))
            if not pi.running:
                view["state"] = "offline"
                # systemd would restart a Pi that died (Restart=on-failure); the demo does not
                view["detail"] = f"{pi.note} · stays off until you press Start"
            elif not pi.ready:
                view["state"] = "starting"
            elif view["cut_off"]:
                view["state"] = "cut off"
            elif not view["connections"]:
                view["state"] = "reconnecting"
            else:
                view["state"] = "online"
            view["step"] = self.updates.steps.get(name)  # in an update under way
            # since when it has not been heard (wall clock): its claims' leases run out
            view["silent_since"] = (view["down_since"] if not pi.running
                                    else app.get("cut_off_at") if view["cut_off"] else None)
            views.append(view)
        return views

    def update_view(self) -> dict[str, Any] | None:
        """The newer release and the Pis not on it yet; `command` only while some are not."""
        if self.source is None:
            return None
        newer = self.source.newer
        behind = [name for name, pi in self.pis.items() if pi.version != newer.removeprefix("v")]
        return {"current": self.source.current, "newer": newer, "behind": behind,
                "command": f"update to {newer}" if behind else None,
                "under_way": self.updates.under_way}

    def house_view(self) -> dict[str, Any]:
        pins = {name: watch.pins for name, watch in self.gpio.items()}
        online = {name for name, pi in self.pis.items() if pi.running}
        return house_view(self.house, self.hue_states, pins, online)

    def _send_pis(self) -> None:
        self.page.send({"type": "pis", "pis": self.pi_views(), "update": self.update_view()})

    def _send_house(self) -> None:
        self.page.send({"type": "house", "house": self.house_view()})

    def _note(self, text: str, kind: str = "demo") -> None:
        if self.chat is not None:
            self.page.send(self.chat.log(text, kind))

    # -- events in -------------------------------------------------------------------

    def _on_workspace_event(self, item: dict[str, Any]) -> None:
        """The emulator's listener, on its loop as each change is made: the trap acts here,
        before the Pi that pinned gets its answer (messages carry their metadata)."""
        self.loop.call_soon_threadsafe(self._on_feed, item)
        if (self.trap_armed and item.get("type") == "pin_added" and self.chat is not None
                and float(item.get("ts") or 0) > self.trap_after):
            # Only a command posted after arming: a Pi back from a cut-off may still pin
            # (and at once give back) an older, finished message.
            name = self.chat.names.get(item.get("by", ""), "")
            if name in self.pis:
                self.trap_armed = False
                self.ws.cut_off(name)  # its next call hangs: it cannot finish the command
                self.loop.call_soon_threadsafe(self._spring_trap, name, item["ts"])

    def _on_feed(self, item: dict[str, Any]) -> None:
        if self._closing or self.chat is None:
            return
        kind = item.get("type", "")
        app = item.get("app")
        if app in self.apps:
            if kind in ("app_connected", "app_disconnected"):
                self.apps[app]["connections"] = item.get("connections", 0)
                if kind == "app_connected" and item.get("connections") == 1:
                    self._note(f"{app} connected to Slack (Socket Mode)", "pi")
            elif kind in ("app_cut_off", "app_restored"):
                self.apps[app]["cut_off"] = kind == "app_cut_off"
                self.apps[app]["cut_off_at"] = time.time() if kind == "app_cut_off" else None
            self._send_pis()
        for event in self.chat.apply(item):
            self.page.send(event)
            message = event.get("message")
            if event["type"] == "message" and message and message["kind"] == "pi":
                self._read_roll_call(message)
        if self._follow_update(item):
            self._send_pis()

    def _follow_update(self, item: dict[str, Any]) -> bool:
        """Each Pi's step in an update, from the plugin's posts and the turns' pins."""
        assert self.chat is not None
        if item.get("type") == "message_posted":
            msg = self.chat.messages.get(item["message"]["ts"])
            payload = (item["message"].get("metadata") or {}).get("event_payload") or {}
            return msg is not None and self.updates.on_message(msg, payload)
        if item.get("type") == "pin_added":
            return self.updates.on_pin(item["ts"], self.chat.name(item.get("by")))
        return False

    def _read_roll_call(self, message: dict[str, Any]) -> None:
        """A roll call's answer: one Pi's line per Pi of the house (the others' from their
        boards), each with its version."""
        changed = False
        for name, version in _ROLL_CALL.findall(message["text"]):
            pi = self.pis.get(name)
            if pi is not None and pi.version != version:
                pi.version, changed = version, True
        if changed:
            self._send_pis()

    def _on_pi(self, pi: Pi) -> None:
        if self._closing:
            return
        if pi.ready:
            self.gpio[pi.name].follow()
            took = pi.status()["startup_s"]
            self._note(f"{pi.name} is up: version {pi.version}, ready in {took} s", "pi")
        elif not pi.running:
            self.gpio[pi.name].forget()
            self._note(f"{pi.name} is down ({pi.note})", "pi")
        self._send_pis()
        self._send_house()

    def _on_pins(self, host: str, pins: dict[str, dict[str, Any]]) -> None:
        watch = self.gpio[host]
        for device in self.house.devices("door"):
            info = pins.get(str(device.pin))
            if (device.host(self.hosts) == host and info and info["function"] == "input"
                    and device.pin not in watch.prepared):
                watch.prepared.add(device.pin)  # doors start shut (the contact closes the pin)
                asyncio.ensure_future(self._drive_quietly(host, device.pin, 0))
        self._send_house()

    async def _drive_quietly(self, host: str, pin: int, value: int) -> None:
        with contextlib.suppress(RuntimeError):
            await self.gpio[host].drive(pin, value)

    def _on_hue_change(self, change: dict[str, Any]) -> None:
        """The bridge emulator's listener, on its request thread: the page sees a light switch
        as the bridge applies it, before the Pi that switched it answers in the channel."""
        if not self._closing and self.loop is not None:
            self.loop.call_soon_threadsafe(self._refresh_hue)

    def _refresh_hue(self) -> None:
        if self._closing or self.hue is None:
            return
        states = {name: self.hue.light(name) for name in HUE_LIGHTS}
        if states != self.hue_states:
            self.hue_states = states
            self._send_house()

    # -- actions -----------------------------------------------------------------

    async def say(self, text: str, thread_ts: str | None = None) -> str:
        """Post as the person, escaped as Slack escapes what people type."""
        try:
            return await asyncio.to_thread(self.ws.post, escape(text), None, thread_ts)
        except Exception as e:  # noqa: BLE001 - e.g. an unknown thread
            raise DemoError(f"could not post: {e}") from e

    async def click(self, ts: str, action_id: str) -> dict[str, Any]:
        """The person clicks a button on a Pi's message (only that Pi hears it)."""
        try:
            return await asyncio.to_thread(self.ws.click, ts, action_id)
        except (KeyError, ValueError) as e:
            raise DemoError(f"could not click: {e}") from e

    async def open_home(self, name: str) -> list[dict[str, Any]]:
        """The person opens the Pi's Home tab: the view the Pi publishes, as the page draws it."""
        self._pi(name)
        try:
            view = await asyncio.to_thread(self.ws.open_home, name, None, 10.0)
        except TimeoutError as e:
            raise DemoError(f"{name} did not publish its Home tab: is it online?") from e
        return self.chat.blocks(view.get("blocks")) or []

    async def click_home(self, name: str, action_id: str) -> dict[str, Any]:
        self._pi(name)
        try:
            return await asyncio.to_thread(self.ws.click_home, name, action_id)
        except (KeyError, ValueError) as e:
            raise DemoError(f"could not click: {e}") from e

    def _pi(self, name: str) -> Pi:
        if name not in self.pis:
            raise DemoError(f"no Pi called {name!r}; the Pis are {', '.join(self.pis)}", 404)
        return self.pis[name]

    async def pi_action(self, name: str, action: str) -> dict[str, Any]:
        pi = self._pi(name)
        if action == "kill":
            if not pi.running:
                raise DemoError(f"{name} is not running; restart it first")
            await pi.kill()
            self._note(f"{name} killed (SIGKILL): like pulling its plug. It stays off until "
                       "you press Start", "pi")
        elif action == "restart":
            self._note(f"{name} restarting: SIGTERM (a clean stop, like systemctl restart), "
                       "then start" if pi.running else f"{name} starting", "pi")
            await pi.restart()
        elif action in ("cut_off", "restore"):
            await asyncio.to_thread(getattr(self.ws, action), name)
            self._note(f"{name} cut off from Slack: its calls hang, no events reach it"
                       if action == "cut_off" else f"{name} reconnected to Slack", "pi")
        else:
            raise DemoError(f"unknown action {action!r}; use kill, restart, cut_off or restore",
                            404)
        self._send_pis()
        return next(v for v in self.pi_views() if v["name"] == name)

    def arm_trap(self, armed: bool) -> None:
        self.trap_after = time.time()  # message ts are wall-clock seconds
        self.trap_armed = armed
        self.page.send({"type": "trap", "armed": armed})
        if armed:
            self._note("Armed: the Pi that claims the next command loses power right after "
                       "it pins it.")

    def _spring_trap(self, name: str, ts: str) -> None:
        async def spring() -> None:
            pi = self.pis[name]
            await pi.kill()
            await asyncio.to_thread(self.ws.restore, name)
            about = self.chat.about(ts) if self.chat else "the command"
            self._note(f"{name} claimed {about} and lost power mid-command. Its pin stays; "
                       f"about {LEASE_S} s after the claim another Pi takes over.")
            self.page.send({"type": "trap", "armed": False})
            self._send_pis()

        self._tasks.append(asyncio.ensure_future(spring()))

    async def drive_sensor(self, key: str, active: bool | None) -> dict[str, Any]:
        device = self.house.device(key)
        if device is None or device.kind == "light":
            names = ", ".join(d.name for d in self.house.devices("sensor"))
            raise DemoError(f"no sensor called {key!r}; sensors: {names}", 404)
        host = device.host(self.hosts)
        if not self.pis[host].running:
            raise DemoError(f"{device.name} is wired to {host}, which is offline")
        watch = self.gpio[host]
        current = (watch.pins.get(str(device.pin)) or {}).get("state")
        if active is None:
            active = True if device.kind == "motion" else current != 1
        try:
            await watch.drive(device.pin, int(active))
        except RuntimeError as e:
            raise DemoError(str(e)) from e
        previous = self._pulses.pop(device.name, None)
        if previous is not None:
            previous.cancel()
        if device.kind == "motion" and active:  # a person walks past: motion, then stillness
            self._pulses[device.name] = self.loop.call_later(
                MOTION_PULSE_S, lambda: asyncio.ensure_future(
                    self._drive_quietly(host, device.pin, 0)))
        return {"name": device.name, "host": host, "pin": device.pin, "active": active}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="troupe demo", description=__doc__.split("\n\n")[1])
    parser.add_argument("--port", type=int, help=f"port on 127.0.0.1 (0: any free; default "
                        f"{DEFAULT_PORT}, or a free one when {DEFAULT_PORT} is taken)")
    parser.add_argument("--hosts", type=int, default=3, help="how many Pis (1-9)")
    parser.add_argument("--workdir", type=Path, help="keep configs and logs here (default: a "
                        "temporary folder, removed on exit)")
    parser.add_argument("--rate-limits", choices=("off", "real"), default="off",
                        help="Slack's rate limits (default off: snappier)")
    return parser


def _print_ready(demo: Demo, out: TextIO) -> None:
    print(f"All {len(demo.pis)} Pis online in {demo.ready_s:.1f} s. Try typing:", file=out)
    for hint in demo.house.hints()[:5]:
        print(f"    {hint['text']:<26} {hint['why']}", file=out)
    if demo.source:
        print(f"    update to {demo.source.newer:<16} roll a new version across the Pis",
              file=out)
    print("  or kill a Pi from the page while it runs a command. Ctrl-C stops everything.",
          file=out)
    for note in demo.notes:
        print(f"  note: {note}", file=out)
    out.flush()


async def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    demo = Demo(args.hosts, args.port, args.workdir, args.rate_limits)
    code = 0
    try:
        await demo.start()
        print(f"Troupe demo: {demo.url}", file=out)
        if demo.fell_back_from is not None:
            print(f"  note: port {demo.fell_back_from} is in use (another demo?), so this one "
                  f"is on a free port; choose one with `make demo PORT=8081`", file=out)
        print(f"  {args.hosts} Pis, an emulated Slack workspace and Hue bridge; "
              f"logs in {demo.workdir}", file=out)
        out.flush()
        ready = asyncio.ensure_future(demo.wait_ready())
        await asyncio.wait([ready, asyncio.ensure_future(stop.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
        if ready.done() and ready.result():
            _print_ready(demo, out)
        elif ready.done():
            print("Some Pis did not come up; see their logs. The page still works.", file=out)
        await stop.wait()
        print("Stopping ...", file=out)
        out.flush()
    except DemoError as e:
        print(f"troupe demo: {e}", file=sys.stderr)
        code = 1
    finally:
        await demo.stop()
    if code == 0:
        print("Stopped: every Pi and emulator has ended.", file=out)
    return code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 1 <= args.hosts <= 9:
        print("troupe demo: --hosts must be between 1 and 9", file=sys.stderr)
        return 2
    if args.port is not None and not 0 <= args.port <= 65535:
        print("troupe demo: --port must be between 0 and 65535", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


if __name__ == "__main__":
    sys.exit(main())
