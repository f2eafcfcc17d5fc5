"""The lock alone: slackmq (this one) beside slackmq==0.1.2 from the package index.

    python -m bench.lock [--latency-ms 50] [--reps 20] [--old-reps 2] [--no-old]

``python -m bench`` runs it as its ``lock`` section, at 0 and 50 ms. Both libraries
run against the Slack emulator (``troupe.sim.slack``: the benchmark lives here,
not in slackmq, so the library never imports troupe) in the same process and run. The
original needs ``slacker``; both are pip-installed into a temporary directory at
run time and loaded under another module name, with slacker's API URL pointed
at the emulator. Prints Web API calls and wall time per operation, and the
time in emulator round trips (wall / latency).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from slack_sdk import WebClient

from slackmq import SlackMQ
from troupe.sim.slack import SlackWorkspace

from .common import progress

OLD_CACHE = os.path.join(tempfile.gettempdir(), "slackmq-bench-0.1.2")


def load_old(target: str = OLD_CACHE) -> ModuleType:
    """pip-install slackmq==0.1.2 + slacker into ``target`` (once) and import it as slackmq_012."""
    mod_path = os.path.join(target, "slackmq.py")
    if not os.path.exists(mod_path):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--target",
                target,
                "slackmq==0.1.2",
                "slacker",
            ],
            check=True,
        )
    if target not in sys.path:
        sys.path.append(target)  # after ours: only slacker and requests come from here
    spec = importlib.util.spec_from_file_location("slackmq_012", mod_path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def point_slacker_at(api_url: str) -> None:
    import slacker  # type: ignore[import-not-found]

    slacker.get_api_url = lambda method: api_url + method


def _counts(ws: Any, app: str) -> int:
    return sum(ws.call_counts().get(app, {}).values())


def _measure(
    ws: Any, app: str, reps: int, op: Callable[[str], Any], setup: Callable[[str], Any] | None
) -> tuple[float, float, list[Any]]:
    """Median wall seconds and mean Web API calls of ``op(ts)`` on fresh messages."""
    walls, calls, results = [], [], []
    for _ in range(reps):
        ts = ws.post("toggle bench light")
        if setup is not None:
            setup(ts)
        before = _counts(ws, app)
        t0 = time.perf_counter()
        results.append(op(ts))
        walls.append(time.perf_counter() - t0)
        calls.append(_counts(ws, app) - before)
    return statistics.median(walls), statistics.mean(calls), results


def run(*, reps: int, old_reps: int, latencies: tuple[int, ...] = (0, 50),
        with_old: bool = True) -> list[dict[str, Any]]:
    """The ``python -m bench`` section: rows of {latency_ms, lib, op, calls, wall}."""
    rows = []
    for latency_ms in latencies:
        progress(f"lock: slackmq vs 0.1.2 at {latency_ms} ms")
        for row in measure(latency_ms, reps, old_reps, with_old):
            rows.append({"latency_ms": latency_ms, **row})
    return rows


def measure(latency_ms: int, reps: int, old_reps: int, with_old: bool) -> list[dict[str, Any]]:
    """Rows of {lib, op, calls, wall} at one emulator latency, on a fresh workspace."""
    old = load_old() if with_old else None
    rows: list[dict[str, Any]] = []
    with SlackWorkspace(apps=3, rate_limits="off", latency_ms=latency_ms) as ws:
        a_new, a_late, a_old = ws.apps[0], ws.apps[1], ws.apps[2]
        mq = SlackMQ(WebClient(token=a_new["bot_token"], base_url=ws.api_url), ws.channel_id)
        late = SlackMQ(WebClient(token=a_late["bot_token"], base_url=ws.api_url), ws.channel_id)

        def add(
            lib: str,
            op: str,
            app: str,
            n: int,
            fn: Callable[[str], Any],
            setup: Callable[[str], Any] | None = None,
        ) -> None:
            wall, calls, _ = _measure(ws, app, n, fn, setup)
            rows.append({"lib": lib, "op": op, "calls": calls, "wall": wall})

        def won(ts: str) -> Any:
            c = mq.claim(ts)
            assert c.won
            return c

        def won_done(ts: str) -> None:
            with mq.claimed(ts) as c:
                assert c.won

        def lost(ts: str) -> None:
            assert mq.claim(ts).status == "lost"

        def held_by_other(ts: str) -> None:
            assert late.claim(ts).won

        def done_by_other(ts: str) -> None:
            with late.claimed(ts):
                pass

        def late_done(ts: str) -> None:
            assert mq.claim(ts).status == "done"

        add("slackmq 0.2", "claim (won)", a_new["name"], reps, won)
        add("slackmq 0.2", "claim+done+release", a_new["name"], reps, won_done)
        add("slackmq 0.2", "claim (lost)", a_new["name"], reps, lost, held_by_other)
        add(
            "slackmq 0.2",
            "claim (late, already done)",
            a_new["name"],
            reps,
            late_done,
            done_by_other,
        )
        # retain mode: finished messages stay pinned until swept
        rmq = SlackMQ(
            WebClient(token=a_new["bot_token"], base_url=ws.api_url),
            ws.channel_id,
            retain=600,
            fresh=60,
        )
        rlate = SlackMQ(
            WebClient(token=a_late["bot_token"], base_url=ws.api_url),
            ws.channel_id,
            retain=600,
            fresh=60,
        )

        def r_won(ts: str) -> None:
            assert rmq.claim(ts).won

        def r_won_done(ts: str) -> None:
            with rmq.claimed(ts) as c:
                assert c.won

        def r_done_by_other(ts: str) -> None:
            with rlate.claimed(ts):
                pass

        def r_late(ts: str) -> None:
            assert rmq.claim(ts).status == "lost"  # retained pin: lost, never re-run

        add("0.2 retain", "claim (won)", a_new["name"], reps, r_won)
        add("0.2 retain", "claim+done+release", a_new["name"], reps, r_won_done)
        add(
            "0.2 retain", "claim (late, already done)", a_new["name"], reps, r_late, r_done_by_other
        )
        if old is not None:
            point_slacker_at(ws.api_url)
            tok, ch = a_old["bot_token"], ws.channel_id

            def old_ack(ts: str) -> None:
                assert old.slackmq(tok, ch, ts).ack()

            def old_both(ts: str) -> None:
                p = old.slackmq(tok, ch, ts)
                assert p.ack()
                p.unack()

            def old_done(ts: str) -> None:
                p = old.slackmq(tok, ch, ts)
                p.ack()
                p.unack()

            def old_late(ts: str) -> None:
                # 0.1.2 has no done marker: a late claimer wins and runs it again
                again = old.slackmq(tok, ch, ts).ack()
                rows.append(
                    {
                        "lib": "slackmq 0.1.2",
                        "op": "  (late ack() won again?)",
                        "calls": 0,
                        "wall": 0.0,
                        "note": str(again),
                    }
                )

            add("slackmq 0.1.2", "ack (won)", a_old["name"], reps, old_ack)
            add("slackmq 0.1.2", "ack+unack", a_old["name"], old_reps, old_both)
            add("slackmq 0.1.2", "ack (late, already done)", a_old["name"], 1, old_late, old_done)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.lock", description=__doc__)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--old-reps", type=int, default=2, help="0.1.2 ack+unack sleeps 3 s each")
    ap.add_argument("--no-old", action="store_true", help="skip slackmq 0.1.2 (no pip install)")
    args = ap.parse_args(argv)
    rows = measure(args.latency_ms, args.reps, args.old_reps, not args.no_old)
    lat = args.latency_ms / 1000
    print(f"emulator latency {args.latency_ms} ms per call; median wall; calls per operation")
    print(f"{'library':<14} {'operation':<28} {'calls':>6} {'wall ms':>9} {'round trips':>12}")
    for r in rows:
        rt = f"{r['wall'] / lat:.1f}" if lat > 0 else "-"
        note = f"  {r['note']}" if "note" in r else ""
        print(
            f"{r['lib']:<14} {r['op']:<28} {r['calls']:>6.1f} {r['wall'] * 1000:>9.1f} "
            f"{rt:>12}{note}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
