"""`troupe release`: the releases side by side on this Pi, by hand (troupe.releases does it)."""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from troupe.releases import ReleaseError, ReleaseRoot, source_from_config, upgrade

RELEASE_ACTIONS = {
    "list": "the releases built here, with the current and the previous one marked",
    "current": "the release this Pi runs",
    "available": "the versions the [update] source offers (needs --config)",
    "build": "fetch and install VERSION beside the running release",
    "check": "run `troupe check` of VERSION with this Pi's configuration (needs --config)",
    "switch": "make VERSION the current release; the current one becomes the previous",
    "upgrade": "build, check and switch to VERSION in one go (needs --config)",
    "rollback": "switch back to the previous release and mark the one left as failed",
    "prune": "delete old releases (the current, the previous and the newest few stay)",
}


def release_main(argv: Sequence[str] | None = None) -> int:
    """``troupe release list|current|available|rollback|build V|check V|switch V|upgrade V``."""
    parser = argparse.ArgumentParser(
        prog="troupe release", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Releases side by side on this Pi (under /opt/troupe by default):\n"
                    + "\n".join(f"  {action:<10} {text}"
                                 for action, text in RELEASE_ACTIONS.items()))
    parser.add_argument("action", choices=list(RELEASE_ACTIONS), metavar="ACTION",
                        help="one of: " + ", ".join(RELEASE_ACTIONS))
    parser.add_argument("version", nargs="?", metavar="VERSION",
                        help="a release version such as v0.2.0 (build, check, switch, upgrade)")
    parser.add_argument("--root", help="release root (default: [update] root, relative to the "
                                       "configuration file's directory, or /opt/troupe)")
    parser.add_argument("--config", help="troupe.toml ([update] source; checked by `check`)")
    parser.add_argument("--reuse-site-packages", action="store_true",
                        help="tests and the demo: build against this interpreter's packages")
    args = parser.parse_intermixed_args(argv)

    update: dict = {}
    if args.config:
        try:
            with open(args.config, "rb") as f:
                update = tomllib.load(f).get("update", {})
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            print(f"cannot read {args.config}: {exc}", file=sys.stderr)
            return 2
    needs_version = args.action in ("build", "check", "switch", "upgrade")
    if needs_version != bool(args.version):
        parser.error(f"{args.action} {'needs' if needs_version else 'takes no'} VERSION")
    try:
        source = source_from_config(update) if update else None
        if args.root:
            root_path = Path(args.root)  # relative: to the working directory
        elif "root" in update:  # relative: to the configuration file's directory
            root_path = Path(args.config).resolve().parent / update["root"]
        else:
            root_path = Path("/opt/troupe")
        root = ReleaseRoot(root_path, source,
                           reuse_site_packages=args.reuse_site_packages)
        if args.action == "list":
            cur, prev = root.current_version(), root.previous_version()
            for v in root.versions():
                tags = [t for t, on in (("current", v == cur), ("previous", v == prev),
                                        ("failed", root.failed(v))) if on]
                print(v + (f"  ({', '.join(tags)})" if tags else ""))
        elif args.action == "current":
            print(root.current_version() or "none")
        elif args.action == "available":
            if source is None:
                raise ReleaseError("--config with an [update] table is needed")
            print("\n".join(source.versions()))
        elif args.action == "rollback":
            print(f"rolled back to {root.rollback()}")
        elif args.action == "prune":
            print("\n".join(root.prune()) or "nothing to prune")
        elif args.action == "switch":
            print(f"switched to {root.switch(args.version)}")
        elif args.action == "build":
            print(root.build(args.version))
        elif args.action in ("check", "upgrade"):
            if not args.config:
                raise ReleaseError(f"{args.action} needs --config")
            if args.action == "check":
                ok, output = root.health_check(args.version, args.config)
                print(output)
                return 0 if ok else 1
            print(upgrade(root, args.version, args.config))
            print(f"switched to {args.version}")
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
