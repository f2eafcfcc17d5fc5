"""A randomized fault run: five real `troupe run` processes, many commands, many faults.

    python tests/chaos.py --seed 7 --commands 1000       # `make chaos` runs three seeds

It posts exclusive commands (`count N`), broadcasts (`ping N`) and failing
commands (`boom`) while it kills and restarts Pis, closes their connections
(with and without a `disconnect` message), cuts apps off and restores them,
duplicates and delays envelopes, and makes Web API methods answer 429, 5xx or
hang. The seed picks every choice; the same seed replays the same run.

Then a checker reads the emulator's record (messages, reactions) and the Pis'
run log and reports: commands run twice (must be 0), commands lost (neither
run, answered as failed, reported interrupted, nor expired with an answer:
must be 0), broadcasts missed by Pis that were up, and latency percentiles.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from troupe.testing import Federation, wait_for

PLUGINS = Path(__file__).parent / "plugins"
FAULT_METHODS = ["pins.add", "pins.remove", "reactions.add", "reactions.get", "chat.postMessage",
                 "conversations.history", "pins.list"]


@dataclass
class Posted:
    kind: str  # count | ping | boom
    n: int
    ts: str
    at: float


@dataclass
class Report:
    seed: int
    commands: int
    duplicates: dict[int, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    broadcasts_missed: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    faults: collections.Counter = field(default_factory=collections.Counter)
    interrupted: int = 0
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.duplicates and not self.lost and not self.broadcasts_missed

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> str:
        lines = [
            f"seed {self.seed}: {self.commands} commands in {self.seconds:.0f} s; "
            f"faults: {dict(self.faults)}",
            f"  run twice: {len(self.duplicates)}   lost: {len(self.lost)}   "
            f"broadcasts missed: {len(self.broadcasts_missed)}   "
            f"reported interrupted: {self.interrupted}",
        ]
        if self.latencies:
            lines.append(f"  answer latency s: p50 {self.percentile(50):.2f}  "
                         f"p95 {self.percentile(95):.2f}  p99 {self.percentile(99):.2f}  "
                         f"max {max(self.latencies):.2f}  "
                         f"mean {statistics.mean(self.latencies):.2f}")
        for what, items in (("run twice", self.duplicates), ("lost", self.lost),
                            ("missed", self.broadcasts_missed)):
            if items:
                lines.append(f"  {what}: {list(items)[:20]}")
        return "\n".join(lines)


class Chaos:
    def __init__(self, workdir: Path, seed: int, commands: int, hosts: int = 5):
        self.rng = random.Random(seed)
        self.seed = seed
        self.commands = commands
        self.log = workdir.resolve() / "runs.log"  # the Pis write it from their own cwd
        self.log.unlink(missing_ok=True)  # a replay starts from nothing
        self.fed = Federation(
            workdir / "fed", hosts, plugins=["probe"], plugin_paths=[PLUGINS],
            config={"probe": {"log": str(self.log)},
                    "troupe": {"lease": 4, "no_taker_wait": 2, "max_command_age": 600}})
        self.posted: list[Posted] = []
        self.down: dict[str, list[list[float]]] = collections.defaultdict(list)
        self.report = Report(seed, commands)

    # ---- faults ------------------------------------------------------------
    def _mark_down(self, host: str) -> None:
        self.down[host].append([time.time(), float("inf")])

    def _mark_up(self, host: str) -> None:
        if self.down[host] and self.down[host][-1][1] == float("inf"):
            self.down[host][-1][1] = time.time()

    def inject(self) -> None:
        fed, rng = self.fed, self.rng
        host = rng.choice(fed.host_names)
        fault = rng.choice(["kill", "close", "disconnect", "cut", "duplicate", "delay", "429",
                            "5xx", "hang"])
        self.report.faults[fault] += 1
        if fault == "kill":
            self._mark_down(host)
            fed.kill(host)
            fed.start_host(host, wait=False)
            self._pending_up.append(host)
        elif fault == "close":
            fed.ws.close_connections(host)
        elif fault == "disconnect":
            fed.ws.close_connections(host, disconnect=rng.choice(["refresh_requested", "warning"]))
        elif fault == "cut":
            self._mark_down(host)
            fed.ws.cut_off(host)
            self._cut.append(host)
        elif fault == "duplicate":
            fed.ws.duplicate_events(True)
            self._toggles.append(lambda: fed.ws.duplicate_events(False))
        elif fault == "delay":
            fed.ws.set_event_delay(rng.choice([100, 300, 800]))
            self._toggles.append(lambda: fed.ws.set_event_delay(0))
        else:
            method = rng.choice(FAULT_METHODS)
            mode = {"429": "error", "5xx": "5xx", "hang": "hang"}[fault]
            fed.ws.fail_method(method, mode=mode, error="ratelimited", count=rng.randint(1, 3),
                               app=host)

    def heal_some(self) -> None:
        fed, rng = self.fed, self.rng
        while self._cut and rng.random() < 0.6:
            host = self._cut.pop(0)
            fed.ws.restore(host)
            self._mark_up(host)
        while self._toggles and rng.random() < 0.5:
            self._toggles.pop(0)()
        for host in list(self._pending_up):
            if " ready: " in fed.log(host, since_start=True):
                self._pending_up.remove(host)
                self._mark_up(host)

    def heal_all(self) -> None:
        for host in self._cut:
            self.fed.ws.restore(host)
            self._mark_up(host)
        self._cut.clear()
        for toggle in self._toggles:
            toggle()
        self._toggles.clear()
        for host in self._pending_up:
            self.fed.wait_ready(host, timeout=60)
            self._mark_up(host)
        self._pending_up.clear()

    # ---- the run -----------------------------------------------------------
    def run(self) -> Report:
        started = time.time()
        self._cut: list[str] = []
        self._toggles: list = []
        self._pending_up: list[str] = []
        with self.fed:
            for i in range(self.commands):
                roll = self.rng.random()
                kind = "count" if roll < 0.8 else "ping" if roll < 0.93 else "boom"
                text = "boom" if kind == "boom" else f"{kind} {i}"
                self.posted.append(Posted(kind, i, self.fed.say(text), time.time()))
                if self.rng.random() < 0.06:
                    self.inject()
                if self.rng.random() < 0.3:
                    self.heal_some()
                time.sleep(self.rng.uniform(0.0, 0.06))  # pacing of the people typing
            self.heal_all()
            self.settle()
            self.check()
        self.report.seconds = time.time() - started
        return self.report

    def _answered(self) -> set[str]:
        """Commands some Pi answered (their answers name them in metadata)."""
        answered = set()
        messages = self.fed.ws.messages()
        threads = [m["ts"] for m in messages if m.get("reply_count")]
        for thread_ts in threads:
            messages += self.fed.ws.messages(thread_ts=thread_ts)
        for m in messages:
            payload = (m.get("metadata") or {}).get("event_payload") or {}
            if m.get("bot_id") and payload.get("command_ts"):
                answered.add(payload["command_ts"])
        return answered

    def settle(self) -> None:
        exclusive = [p for p in self.posted if p.kind != "ping"]

        broadcasts = [p for p in self.posted if p.kind == "ping"]

        def finished() -> bool:
            counted = self._counts("count")
            answered = self._answered()
            pings = self._pings()
            end = time.time()
            return (all(p.ts in answered or (p.kind == "count" and counted.get(p.n))
                        for p in exclusive)
                    and all(host in pings.get(p.n, ()) for p in broadcasts
                            for host in self.fed.host_names if self._was_up(host, p.at, end))
                    and not self.fed.ws.pins())

        try:
            wait_for(finished, 120, "every command to be run or answered", interval=0.5)
        except TimeoutError:
            pass  # the checker reports what is missing

    def _counts(self, kind: str) -> collections.Counter:
        counts: collections.Counter = collections.Counter()
        if self.log.exists():
            for line in self.log.read_text().splitlines():
                parts = line.split()
                if parts and parts[0] == kind:
                    counts[int(parts[1])] += 1
        return counts

    def _pings(self) -> dict[int, set[str]]:
        pings: dict[int, set[str]] = collections.defaultdict(set)
        if self.log.exists():
            for line in self.log.read_text().splitlines():
                parts = line.split()
                if parts and parts[0] == "ping":
                    pings[int(parts[1])].add(parts[2])
        return pings

    def _was_up(self, host: str, start: float, end: float) -> bool:
        return not any(a <= end and b >= start for a, b in self.down[host])

    def check(self) -> None:
        counts = self._counts("count")
        pings = self._pings()
        answered = self._answered()
        messages = {m["ts"]: m for m in self.fed.ws.messages()}
        rep = self.report
        rep.duplicates = {n: c for n, c in counts.items() if c > 1}
        for p in self.posted:
            if p.kind == "ping":
                # A Pi that was up from the post until the end must have run it.
                for host in self.fed.host_names:
                    if self._was_up(host, p.at, time.time()) and host not in pings.get(p.n, ()):
                        rep.broadcasts_missed.append(f"ping {p.n} on {host}")
                continue
            ran = p.kind == "count" and counts.get(p.n)
            if not ran and p.ts not in answered:
                rep.lost.append(f"{p.kind} {p.n} ({p.ts})")
            reactions = {r["name"] for r in messages.get(p.ts, {}).get("reactions", [])}
            if "warning" in reactions:
                rep.interrupted += 1
        for m in self.fed.ws.messages():
            payload = (m.get("metadata") or {}).get("event_payload") or {}
            command_ts = payload.get("command_ts")
            if m.get("bot_id") and command_ts:
                rep.latencies.append(float(m["ts"]) - float(command_ts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--workdir", default="artifacts/chaos")
    parser.add_argument("--json", help="write the report here")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    print(f"chaos: seed {seed} (replay with --seed {seed})", flush=True)
    workdir = Path(args.workdir) / f"seed-{seed}"
    workdir.mkdir(parents=True, exist_ok=True)
    report = Chaos(workdir, seed, args.commands, args.hosts).run()
    print(report.summary(), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "seed": seed, "commands": report.commands, "seconds": report.seconds,
            "run_twice": len(report.duplicates), "lost": len(report.lost),
            "broadcasts_missed": len(report.broadcasts_missed),
            "interrupted": report.interrupted, "faults": dict(report.faults),
            "p50": report.percentile(50), "p95": report.percentile(95),
            "p99": report.percentile(99)}, indent=2))
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
