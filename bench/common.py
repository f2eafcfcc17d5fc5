"""What every bench section shares: federations, percentiles, the emulator's call log."""

from __future__ import annotations

import collections
import os
import platform
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from troupe.testing import Federation, wait_for

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "tests" / "plugins"
PREFERRED_ENV = "TROUPE_PREFERRED_CLAIMS"  # read by troupe.guard until the config key lands


def percentile(values: Iterable[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, int(-(-p * len(ordered) // 100)))  # ceil(p/100 * n), at least 1
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max of seconds, in milliseconds."""
    return {k: percentile(values, p) * 1000 for k, p in
            (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))} | {"n": len(values)}


def fed_env(preferred: bool | float) -> dict[str, str]:
    """Environment for the hosts: preferred claims off, on (True) or on with this window (s)."""
    if preferred is False:
        return {PREFERRED_ENV: "0"}
    return {PREFERRED_ENV: "1" if preferred is True else str(float(preferred))}  # "1.0" s


@contextmanager
def probe_federation(workdir: Path, hosts: int, *, preferred: bool | float = False,
                     config: dict[str, Any] | None = None, **kwargs: Any
                     ) -> Iterator[tuple[Federation, Path]]:
    """N real `troupe run` hosts with the probe plugin; yields (federation, its run log)."""
    runs = workdir / "runs.log"
    runs.unlink(missing_ok=True)
    cfg = {"probe": {"log": str(runs)}, "troupe": {"lease": 5, "no_taker_wait": 2}}
    for key, value in (config or {}).items():
        cfg[key] = {**cfg.get(key, {}), **value}
    fed = Federation(workdir / "fed", hosts, plugins=["probe"], plugin_paths=[PROBE],
                     config=cfg, env=fed_env(preferred), **kwargs)
    with fed:
        yield fed, runs


def run_counts(path: Path, kind: str = "count") -> collections.Counter:
    """How many times each `kind N` ran, from the probe's run log."""
    counts: collections.Counter = collections.Counter()
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == kind:
                counts[int(parts[1])] += 1
    return counts


def settle(fed: Federation, timeout: float = 20.0) -> None:
    """Wait until no claim is held (every finished command released its pin)."""
    wait_for(lambda: not fed.ws.pins(), timeout, "every claim to be released", interval=0.02)


def quiet(fed: Federation, started: float, after: float = 1.5, gap: float = 0.5) -> None:
    """Let the hosts' start-up reads finish (preferred claims read the channel's members a
    second after start) before measuring: `after` s since `started`, and no call for `gap` s."""
    def done() -> bool:
        calls = fed.ws.log()["calls"]
        now = time.time()
        return now - started >= after and (not calls or now - calls[-1]["time"] >= gap)

    wait_for(done, 30, "the hosts' start-up calls to end", interval=0.05)


def calls_between(fed: Federation, start: float, end: float) -> list[dict[str, Any]]:
    """The emulator's record of Web API calls made in [start, end] (epoch seconds)."""
    return [c for c in fed.ws.log()["calls"] if start <= c["time"] <= end]


def by_method(calls: list[dict[str, Any]], per: int = 1) -> dict[str, float]:
    """Calls per `per` (commands), by method, most frequent first."""
    counts = collections.Counter(c["method"] for c in calls)
    return {m: n / per for m, n in counts.most_common()}


def log_time(line: str) -> float:
    """Epoch seconds of a `troupe run` log line (asctime with milliseconds)."""
    stamp = line[:23]
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def rss_kb(pid: int) -> int:
    """Resident memory of a process (VmRSS), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def machine() -> dict[str, Any]:
    """What ran the bench: CPU, cores, memory, Python, key package versions, load."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for pkg in ("troupe", "slack_sdk", "aiohttp", "apscheduler", "phue", "gpiozero", "matplotlib"):
        try:
            versions[pkg] = version(pkg)
        except PackageNotFoundError:
            versions[pkg] = "-"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem,
            "python": platform.python_version(), "os": platform.platform(),
            "versions": versions, "load": loadavg(), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                            time.gmtime())}


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def progress(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)
