"""`troupe sim`: serve an emulated Slack workspace on 127.0.0.1 until stopped.

The first line on stdout is one JSON object telling clients how to connect.
Other emulators hook in through ``build_parser`` and ``EXTENSIONS``: each
extension gets the parsed args and the info dict before it is printed, and
returns a cleanup callable. ``--hue dining,lounge,porch`` is one: it serves an
emulated Hue bridge with those lights alongside the workspace and adds
``"hue": {"address": "127.0.0.1:PORT", "username": ...}`` to the JSON line
(the username is already paired, so ``phue.Bridge(ip=address,
username=username)`` works at once).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

# (args, info) -> cleanup; an extension may add keys to info (e.g. "hue").
Extension = Callable[[argparse.Namespace, dict[str, Any]], Callable[[], None] | None]
EXTENSIONS: list[Extension] = []

HUE_NAME_MAX = 32  # what a Hue bridge accepts as a light's name


def hue_names(value: str) -> list[str]:
    """``"dining,lounge"`` -> ``["Dining", "Lounge"]``; empty or repeated names are refused."""
    names = [part.strip() for part in value.split(",")]
    if any(not name for name in names):
        raise argparse.ArgumentTypeError(
            f"light names must not be empty (got {value!r}); e.g. --hue dining,lounge,porch")
    titled = [name[:1].upper() + name[1:] for name in names]
    seen: dict[str, str] = {}
    for raw, name in zip(names, titled, strict=True):
        if len(name) > HUE_NAME_MAX:
            raise argparse.ArgumentTypeError(
                f"light name {raw!r} is longer than {HUE_NAME_MAX} characters")
        if name.casefold() in seen:
            raise argparse.ArgumentTypeError(
                f"light {raw!r} is named twice (as {seen[name.casefold()]!r} too); "
                "each light needs its own name")
        seen[name.casefold()] = raw
    return titled


def _hue_extension(args: argparse.Namespace, info: dict[str, Any]) -> Callable[[], None] | None:
    """``--hue NAMES``: an emulated Hue bridge with those lights, until the command stops."""
    if not getattr(args, "hue", None):
        return None
    from troupe.sim.hue import HueBridge

    bridge = HueBridge(lights=args.hue, port=0).start()
    info["hue"] = bridge.info
    return bridge.stop


EXTENSIONS.append(_hue_extension)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="troupe sim", description="Serve an emulated Slack workspace on 127.0.0.1."
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (0 picks a free one)")
    parser.add_argument("--apps", type=int, default=3, help="number of apps pi-1 ... pi-N")
    parser.add_argument("--channel", default="home", help="name of the channel")
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every API call")
    parser.add_argument(
        "--rate-limits", choices=("real", "off"), default="real", help="Slack's tiers, or none"
    )
    parser.add_argument(
        "--ack-timeout", type=float, default=3.0, help="seconds before an envelope is redelivered"
    )
    parser.add_argument(
        "--refresh-every", type=float, metavar="SECONDS",
        help="refresh each app's oldest Socket Mode connection this often, as Slack does "
        "now and then (disconnect: refresh_requested)",
    )
    parser.add_argument(
        "--full-metadata-events", action="store_true",
        help="live message events carry metadata.event_payload (Slack sends only event_type "
        "unless the app declares the type)",
    )
    parser.add_argument(
        "--hue", type=hue_names, metavar="NAMES",
        help="also serve a Hue bridge emulator with these lights (comma-separated, e.g. "
        "dining,lounge,porch; named Dining, Lounge, Porch; Porch is an on/off plug)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    from troupe.sim.slack import SlackWorkspace

    args = build_parser().parse_args(argv)
    if args.apps < 1:
        print("troupe sim: --apps must be at least 1", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    workspace = SlackWorkspace(
        apps=args.apps,
        channel=args.channel,
        rate_limits=args.rate_limits,
        latency_ms=args.latency_ms,
        port=args.port,
        ack_timeout=args.ack_timeout,
        full_metadata_events=args.full_metadata_events,
        refresh_every=args.refresh_every,
    )
    try:
        workspace.start()
    except (OSError, RuntimeError) as exc:
        print(f"troupe sim: {exc}", file=sys.stderr)
        return 1
    cleanups: list[Callable[[], None]] = []
    try:
        info = workspace.info
        for extension in EXTENSIONS:
            try:
                cleanup = extension(args, info)
            except (OSError, RuntimeError, ValueError) as exc:
                print(f"troupe sim: {exc}", file=sys.stderr)
                return 1
            if cleanup is not None:
                cleanups.append(cleanup)
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        for cleanup in reversed(cleanups):
            cleanup()
        workspace.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
