"""The `troupe` command: run, check, version, sim, hue pair, release, demo."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import TYPE_CHECKING

import troupe
from troupe.config import ConfigError
from troupe.text import RedactingFilter

if TYPE_CHECKING:
    from troupe.check import Checked

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # slack_sdk and APScheduler chatter is not a decision; keep the log to one line per decision.
    for noisy in ("slack_sdk", "apscheduler", "troupe.transport.socket", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def cmd_check(args: argparse.Namespace) -> int:
    from troupe.check import check_config

    try:
        checked = check_config(args.config)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    pins = checked.choose_pins()
    if checked.gpio_problem:
        print(f"error: {checked.gpio_problem}", file=sys.stderr)
        return 2
    names = ", ".join(cls.plugin_name() for cls in checked.plugins)
    gpio = f"; pin factory {pins.describe()} for {', '.join(checked.gpio)}" if pins else ""
    print(f"{args.config}: OK (host {checked.config.host_name}; plugins: {names}{gpio})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from troupe.check import check_config
    from troupe.core import Bot, StartupError

    setup_logging(args.verbose)
    try:
        checked = check_config(args.config)
    except ConfigError as e:
        print(e, file=sys.stderr)
        return 2
    for warning in checked.warnings:
        logging.getLogger("troupe").warning("%s", warning)
    log_pins(checked)
    bot = Bot(checked.config, checked.plugins)
    stopping = threading.Event()

    def on_signal(signum, frame):  # noqa: ARG001 - signal handler signature
        if not stopping.is_set():
            stopping.set()
            logging.getLogger("troupe").info("%s stopping (signal %d)", bot.name, signum)
            threading.Thread(target=bot.stop, name="stop", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        bot.run()
    except StartupError as e:
        logging.getLogger("troupe").error("%s could not start: %s", bot.name, e)
        return 2
    except Exception:  # noqa: BLE001 - the log gets the whole story, the service manager restarts
        logging.getLogger("troupe").exception("%s stopped on an unexpected error", bot.name)
        return 1
    return bot.exit_code


def log_pins(checked: Checked) -> None:
    """Before any device opens: the pin factory this Pi's GPIO devices get, an error if not real."""
    log = logging.getLogger("troupe")
    host = checked.config.host_name
    pins = checked.choose_pins()
    if checked.gpio_problem:
        log.error("%s: %s", host, checked.gpio_problem)
    elif pins:
        log.info("%s GPIO pin factory: %s for %s", host, pins.describe(), ", ".join(checked.gpio))


def cmd_version(args: argparse.Namespace) -> int:
    print(f"troupe {troupe.__version__}")
    return 0


def cmd_secret(args: argparse.Namespace) -> int:
    from troupe.federation import new_secret

    print(new_secret())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="troupe", description=troupe.__doc__,
        epilog="`troupe COMMAND --help` describes one command. First time? `make demo`.")
    parser.add_argument("--version", action="version", version=f"troupe {troupe.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    config_help = "this Pi's configuration file (default: troupe.toml)"
    run = sub.add_parser("run", help="connect to Slack and serve this Pi",
                         description="Check the configuration, connect to Slack and serve this Pi "
                                     "until stopped (SIGTERM or Ctrl-C).")
    run.add_argument("--config", "-c", default="troupe.toml", help=config_help)
    run.add_argument("--verbose", "-v", action="store_true", help="log debug detail too")
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check", help="check the configuration and every enabled plugin",
                           description="Report every mistake in the configuration by key, "
                                       "before anything connects; exit 0 when it is fine.")
    check.add_argument("--config", "-c", default="troupe.toml", help=config_help)
    check.set_defaults(func=cmd_check)
    secret = sub.add_parser("secret", help="print a fresh federation secret",
                            description="Print a fresh random federation secret. Give every Pi "
                                        "of the house the same one: [federation] secret, or "
                                        "TROUPE_FEDERATION_SECRET in /etc/troupe/env.")
    secret.set_defaults(func=cmd_secret)
    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=cmd_version)
    for name, helptext in (("sim", "run an emulated Slack workspace (and Hue bridge)"),
                           ("demo", "run a whole emulated household with a web page"),
                           ("hue", "Philips Hue helpers: `troupe hue pair`"),
                           ("release", "manage side-by-side releases on this Pi")):
        p = sub.add_parser(name, help=helptext, add_help=False)
        p.set_defaults(func=None, passthrough=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if argv and argv[0] in ("sim", "demo", "hue", "release"):
        return _delegate(argv[0], argv[1:])
    args = parser.parse_args(argv)
    if args.command is None:  # `troupe` alone: what it can do, not an argparse complaint
        parser.print_help()
        return 0
    return args.func(args)


def _delegate(name: str, rest: list[str]) -> int:
    if name == "sim":
        from troupe.sim.cli import main as sim_main
        return sim_main(rest)
    if name == "demo":
        from troupe.demo.app import main as demo_main
        return demo_main(rest)
    if name == "hue":
        from troupe.hue_pair import main as hue_main
        return hue_main(rest)
    from troupe.release_cli import release_main
    return release_main(rest)


if __name__ == "__main__":
    sys.exit(main())
