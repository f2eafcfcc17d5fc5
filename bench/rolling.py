"""A rolling update over 3 and 5 Pis: total time, and the longest any command waited.

Reuses the update plugin's end-to-end set-up (tests/test_update_e2e.py): each Pi
runs from its own release root under troupe.sim.supervisor (systemd's part), the
releases come from a local git repository of this project with tags v1 and v2,
and a person posts `count N` every 0.5 s throughout `update to v2`.
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path
from typing import Any

from .common import ROOT, progress, run_counts


def _e2e():
    """The update plugin's e2e test module (its helpers), or None if it is not there yet."""
    if not (ROOT / "tests" / "test_update_e2e.py").exists() or \
            not (ROOT / "plugins" / "update" / "__init__.py").exists():
        return None
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import test_update_e2e  # noqa: PLC0415 - optional, and lives with the tests

    return test_update_e2e


def measure(e2e, workdir: Path, repo: Path, hosts: int) -> dict[str, Any]:
    from troupe.releases import ReleaseRoot

    progress(f"rolling update: {hosts} Pis")
    names = [f"pi-{i}" for i in range(1, hosts + 1)]
    roots = e2e.install_v1(workdir, repo, names)
    runs = workdir / "probe.log"
    fed = e2e.SupervisedFederation(
        workdir / "fed", roots, plugins=["update", "probe"], plugin_paths=[e2e.PROBE],
        config={"troupe": {"lease": e2e.LEASE, "no_taker_wait": 2},
                "probe": {"log": str(runs)},
                "update": {"source": "git", "url": str(repo), "deadline": e2e.DEADLINE,
                           "reuse_site_packages": True}},
        host_config={name: {"update": {"root": str(roots[name])}} for name in names})
    with fed:
        with e2e.Away(fed) as away, e2e.Stream(fed, 1000) as stream:
            ts = fed.say("update to v2")
            rollout = e2e.rollout_post(fed, ts, "v2", timeout=120)  # in the thread of ts
            done = e2e.summary(fed, ts, 60 + 40 * hosts)
        waits = stream.waits()
        # What the channel carries for `update to v2`: the Pis' messages at top level (not
        # the answers to the counts posted meanwhile) and in its thread.
        counts = set(stream.posted.values())
        top = [m for m in e2e.top_level_bot_messages(fed, ts) if e2e.about(m) not in counts]
        in_thread = fed.bot_messages(thread_ts=ts)
        counts = run_counts(runs)
        versions = {n: ReleaseRoot(r).current_version() for n, r in roots.items()}
    return {"hosts": hosts, "total_s": float(done["ts"]) - float(ts),
            "turns_s": float(done["ts"]) - float(rollout),
            "commands": len(waits), "wait_max_s": max(waits.values()),
            "wait_p50_s": sorted(waits.values())[len(waits) // 2],
            "ran_twice": sum(1 for n in stream.posted if counts.get(n, 0) > 1),
            "lost": sum(1 for n in stream.posted if not counts.get(n)),
            "most_away": away.most, "versions": versions,
            "messages": {"top": len(top), "threads": len(in_thread)}}


def run(workdir: Path, *, hosts: tuple[int, ...] = (3, 5)) -> dict[str, Any]:
    e2e = _e2e()
    if e2e is None:
        return {"status": "not measured", "reason": "plugins/update/ or its e2e test "
                "(tests/test_update_e2e.py) is not in the tree yet"}
    started = time.time()
    try:
        repo = e2e.make_source(workdir / "update-source")
        rows = [measure(e2e, workdir / f"rolling-{n}", repo, n) for n in hosts]
    except Exception as e:  # noqa: BLE001 - the update plugin is still being finished
        traceback.print_exc()
        return {"status": "not measured", "reason": f"the rolling update failed: {e!r}"}
    return {"status": "measured", "rows": rows, "seconds": time.time() - started}
