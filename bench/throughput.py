"""Sustained commands per minute under Slack's real rate limits, and that none is lost.

The emulator's buckets (per app, per method; Tier 2 = 20/min for pins.add and
pins.remove) let a burst through first. To measure the sustained rate and not
the burst, each app's Tier 2 buckets are emptied before the run (calls on a
message that does not exist: the limiter counts them, as Slack does). Then
`count N` commands are offered faster than the federation can claim them; the
completion rate is the sustained rate, and every command must still run once.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from troupe.testing import Federation, wait_for

from .common import calls_between, percentile, probe_federation, progress, run_counts

DRAIN = ("pins.add", "pins.remove")


def drain(fed: Federation) -> None:
    """Empty each app's Tier 2 buckets (until the emulator answers 429)."""
    for app in fed.ws.apps:
        client = WebClient(token=app["bot_token"], base_url=fed.ws.api_url, retry_handlers=[])
        for method in DRAIN:
            for _ in range(100):
                try:
                    client.api_call(method, json={"channel": fed.ws.channel_id,
                                                  "timestamp": "1.000001"})
                except SlackApiError as e:
                    if e.response.status_code == 429:
                        break


def measure(workdir: Path, hosts: int, *, commands: int, per_minute: float,
            preferred: bool | float = False, rng: random.Random | None = None
            ) -> dict[str, Any]:
    """Offer `commands` at `per_minute` (Poisson arrivals from `rng`) to drained buckets."""
    rng = rng or random.Random(0)
    progress(f"throughput: {hosts} Pis, {commands} commands offered at {per_minute:g}/min, "
             f"preferred={preferred}")
    with probe_federation(workdir / f"tput-{hosts}-{preferred}", hosts, preferred=preferred,
                          rate_limits="real", config={"troupe": {"max_command_age": 900}}
                          ) as (fed, runs):
        fed.wait_for_answer(fed.say("count -1"), 30)
        drain(fed)
        start = time.time()
        posted: dict[int, float] = {}
        due = start
        for n in range(commands):
            time.sleep(max(0.0, due - time.time()))  # pacing the offered load
            due += rng.expovariate(per_minute / 60.0)
            posted[n] = float(fed.say(f"count {n}"))
        answered = wait_for(lambda: _answers(fed, posted, complete=True), 600,
                            "every command to be answered", interval=0.25)
        end = max(answered.values())
        counts = run_counts(runs)
        calls = calls_between(fed, start, end)
    waits = [answered[n] - posted[n] for n in posted]
    done = sorted(answered.values())
    # The sustained rate: completions per minute once the queue has formed (second half).
    half = done[len(done) // 2:]
    rate = (len(half) - 1) * 60.0 / (half[-1] - half[0]) if len(half) > 1 else float("nan")
    # Tier 2 demand: every (Pi, command) that tried pins.add will spend a token on it,
    # even if the answer came before (a loser's call waits its turn in the bucket).
    tried = {(c["app"], c["args"].get("timestamp")) for c in calls if c["method"] == "pins.add"}
    demand = len({(a, t) for a, t in tried if t in {f"{p:.6f}" for p in posted.values()}})
    return {"hosts": hosts, "preferred": preferred, "commands": commands,
            "offered_per_min": per_minute, "sustained_per_min": rate,
            "overall_per_min": commands * 60.0 / (end - start),
            "wait_p50_s": percentile(waits, 50), "wait_max_s": max(waits),
            "ran_twice": sum(1 for n in posted if counts.get(n, 0) > 1),
            "lost": sum(1 for n in posted if not counts.get(n)),
            "rate_limited": sum(1 for c in calls if c["result"] == "429"),
            "calls_per_command": len([c for c in calls if c["result"] != "429"]) / commands,
            "pins_add_demand": demand / commands,
            "bound_per_min": 20.0 * hosts * commands / demand if demand else float("nan")}


def _answers(fed: Federation, posted: dict[int, float], complete: bool) -> dict[int, float]:
    """{n: answer time} for the posted commands answered so far (all, or {} if complete)."""
    by_ts = {f"{ts:.6f}": n for n, ts in posted.items()}
    out = {}
    for m in fed.bot_messages():
        ts = ((m.get("metadata") or {}).get("event_payload") or {}).get("command_ts")
        if ts in by_ts:
            out[by_ts[ts]] = float(m["ts"])
    return out if not complete or len(out) == len(posted) else {}


def run(workdir: Path, *, hosts: tuple[int, ...] = (3, 5), seconds: float = 45,
        preferred: bool | float = False, rng: random.Random | None = None, least: int = 30
        ) -> list[dict[str, Any]]:
    """Offer 1.5x the rate the claims allow: about `seconds` worth of commands at that rate,
    and never fewer than `least`, so that the queue forms and settles."""
    rows = []
    for n in hosts:
        # Tier 2 pins.add, 20/min per app: by default every Pi spends one per command; with
        # preferred claims only the Pi that runs it.
        expected = 20.0 * n if preferred else 20.0
        offered = 1.5 * expected
        count = max(least, int(expected * seconds / 60))
        rows.append(measure(workdir, n, commands=count, per_minute=offered, preferred=preferred,
                            rng=rng))
    return rows
