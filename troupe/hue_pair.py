"""`troupe hue pair`: get a username from the Hue bridge and store it in troupe.toml.

A bridge hands out a username only within 30 s of a press of its link button.
This asks the person to press it, keeps asking the bridge until it agrees (or
the deadline passes), then writes `username = "..."` into the `[hue]` table of
the configuration file: the line is replaced or added, everything else in the
file is kept as it was, and the file is replaced atomically.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import sys
import time
import tomllib
from pathlib import Path

import phue

from troupe.files import write_atomic

_HUE_HEADER = re.compile(r"""^\s*\[\s*(hue|"hue"|'hue')\s*\]\s*(#.*)?$""")
_TABLE_HEADER = re.compile(r"^\s*\[")
_USERNAME = re.compile(r"""^(\s*)(username|"username"|'username')\s*=""")


class PairError(Exception):
    """Pairing cannot go on; the message says why and what to do."""


def register(address: str, devicetype: str) -> str | None:
    """One registration attempt: the username, or None while the button is not pressed."""
    bridge = phue.Bridge(ip=address, username="")  # both given: phue makes no request here
    result = bridge.request("POST", "/api", {"devicetype": devicetype})
    for item in result if isinstance(result, list) else []:
        if "success" in item:
            return item["success"]["username"]
        if item.get("error", {}).get("type") != 101:  # 101: link button not pressed
            raise PairError(f"the bridge refused: {item.get('error', {}).get('description')}")
    return None


def set_username(text: str, username: str) -> str:
    """`text` (a TOML document) with `[hue] username` set: the line replaced or added."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if _HUE_HEADER.match(ln)), None)
    if start is None:
        raise PairError("found no [hue] table to write the username into")
    end = next((i for i in range(start + 1, len(lines)) if _TABLE_HEADER.match(lines[i])),
               len(lines))
    entry = f"username = {json.dumps(username)}\n"
    for i in range(start + 1, end):
        m = _USERNAME.match(lines[i])
        if m:
            lines[i] = m.group(1) + entry
            break
    else:
        last = max((i for i in range(start, end) if lines[i].strip()), default=start)
        if not lines[last].endswith("\n"):
            lines[last] += "\n"
        lines.insert(last + 1, entry)
    return "".join(lines)


def _without_username(doc: dict) -> dict:
    return {**doc, "hue": {k: v for k, v in doc.get("hue", {}).items() if k != "username"}}


def write_username(path: Path, username: str) -> None:
    """Store the username in the file at `path`, atomically, after checking the result."""
    text = path.read_text()
    new = set_username(text, username)
    before, after = tomllib.loads(text), tomllib.loads(new)
    if (after.get("hue", {}).get("username") != username
            or _without_username(after) != _without_username(before)):
        raise PairError("editing the file would change more than hue.username")
    write_atomic(path, new, path.stat().st_mode & 0o7777)


def pair(path: Path, timeout: float, interval: float, out=sys.stdout) -> int:
    """Walk the person through pairing; returns the process exit code."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        print(f"Cannot read {path}: {e}", file=out)
        return 2
    bridge = (raw.get("hue") or {}).get("bridge") if isinstance(raw.get("hue"), dict) else None
    if not isinstance(bridge, str) or not bridge:
        print(f"{path} has no [hue] bridge = \"<address>\": add the bridge's address first.",
              file=out)
        return 2
    if raw["hue"].get("username"):
        print("hue.username is already set; pairing again replaces it.", file=out)
    devicetype = f"troupe#{socket.gethostname()}"[:40]
    print(f"Press the round link button on the Hue bridge at {bridge} now. "
          f"Waiting up to {timeout:.0f} s...", file=out, flush=True)
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            username = register(bridge, devicetype)
        except (OSError, http.client.HTTPException, phue.PhueException, ValueError) as e:
            username = None
            if str(e) != last_error:
                print(f"The bridge at {bridge} did not answer ({e}); still trying.", file=out,
                      flush=True)
                last_error = str(e)
        except PairError as e:
            print(f"Pairing failed: {e}.", file=out)
            return 1
        if username:
            break
        if time.monotonic() > deadline:
            print(f"Gave up after {timeout:.0f} s: " + (
                f"the bridge at {bridge} did not answer." if last_error else
                "the link button was not pressed.") + " Run `troupe hue pair` again.", file=out)
            return 1
        time.sleep(interval)  # polling the bridge, with a deadline
    try:
        write_username(path, username)
    except (OSError, PairError) as e:
        print(f"Paired, but could not write {path} ({e}). Add this line to its [hue] table:\n"
              f"username = {json.dumps(username)}", file=out)
        return 1
    print(f"Paired with the Hue bridge at {bridge} (username {username[:6]}...); "
          f"wrote hue.username to {path}.", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`troupe hue pair [--config troupe.toml] [--timeout 90]`."""
    parser = argparse.ArgumentParser(prog="troupe hue", description="Philips Hue helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pair", help="press the bridge's link button; store the username")
    p.add_argument("--config", "-c", default="troupe.toml", type=Path)
    p.add_argument("--timeout", type=float, default=90.0,
                   help="seconds to wait for the link button (default 90)")
    p.add_argument("--interval", type=float, default=1.0,
                   help="seconds between attempts (default 1)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return pair(args.config, args.timeout, args.interval)


if __name__ == "__main__":
    sys.exit(main())
