"""The lock alone: slackmq beside the original slackmq==0.1.2 (reuses `python -m slackmq.bench`)."""

from __future__ import annotations

from typing import Any

from slackmq import bench as slackmq_bench

from .common import progress


def run(*, reps: int, old_reps: int, latencies: tuple[int, ...] = (0, 50),
        with_old: bool = True) -> list[dict[str, Any]]:
    """Rows of {latency_ms, lib, op, calls, wall} from slackmq.bench, for each latency."""
    rows = []
    for latency_ms in latencies:
        progress(f"lock: slackmq vs 0.1.2 at {latency_ms} ms")
        for row in slackmq_bench.run(latency_ms, reps, old_reps, with_old):
            rows.append({"latency_ms": latency_ms, **row})
    return rows
