"""`python -m bench`: every measurement of issue 8 in one run, on the same emulators.

    python -m bench                 # the full run (~14 min): bench/results.md, bench/latency.png
    python -m bench --quick         # tiny sizes, to check the harness (~1 min)
    python -m bench --only latency,lock --out /tmp/r.md
    python -m bench --only household --splice   # that section only, into bench/results.md
    python -m bench --only flood --splice       # (rolling, household, flood, burst can be spliced)

Raw numbers go to artifacts/bench.json as well.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import burst, flood, household, latency, lock, process, report, rolling, takeover, throughput
from .common import ROOT, loadavg, machine, progress

SECTIONS = ("lock", "latency", "preferred", "takeover", "throughput", "process", "rolling",
            "household", "flood", "burst")


def sizes(quick: bool) -> dict[str, Any]:
    if quick:
        return {"lat_commands": 5, "pref_commands": 5, "only_commands": 3, "hosts": (1, 3),
                "pref_hosts": (3,), "lock_reps": 3, "old_reps": 1, "takeover_reps": 1,
                "tput_seconds": 6, "tput_least": 8, "tput_hosts": (3,), "process_commands": 50,
                "rolling_hosts": (3,), "household_runs": 2}
    return {"lat_commands": 100, "pref_commands": 60, "only_commands": 20, "hosts": (1, 3, 5),
            "pref_hosts": (3, 5), "lock_reps": 20, "old_reps": 2, "takeover_reps": 3,
            "tput_seconds": 40, "tput_least": 30, "tput_hosts": (3, 5),
            "process_commands": 1000, "rolling_hosts": (3, 5), "household_runs": 5}


def run(sections: tuple[str, ...], quick: bool, seed: int, workdir: Path) -> dict[str, Any]:
    s = sizes(quick)
    out: dict[str, Any] = {"machine": machine(), "seed": seed, "quick": quick,
                           "argv": sys.argv[1:]}
    started = time.time()
    if "lock" in sections:
        out["lock"] = lock.run(reps=s["lock_reps"], old_reps=s["old_reps"])
    if "latency" in sections:
        out["latency"] = latency.run(workdir, commands=s["lat_commands"], hosts=s["hosts"])
    if "preferred" in sections:
        rows = []
        for n in s["pref_hosts"]:
            for preferred, dead in ((False, 1), (True, 0), (True, 1)):
                rows.append(latency.measure(workdir / f"pref-{n}-{preferred}-{dead}", n,
                                            latency_ms=50, commands=s["pref_commands"],
                                            preferred=preferred, dead=dead))
        out["preferred"] = rows
        out["only"] = [latency.measure_only(workdir, s["pref_hosts"][-1], latency_ms=50,
                                            commands=s["only_commands"], preferred=p)
                       for p in (False, True)]
    if "takeover" in sections:
        out["takeover"] = (takeover.run(workdir, reps=s["takeover_reps"])
                           + takeover.run(workdir, reps=s["takeover_reps"], latencies=(0,),
                                          preferred=True))
    if "throughput" in sections:
        rng = random.Random(seed)
        out["throughput"] = [
            row for preferred in (False, True)
            for row in throughput.run(workdir, hosts=s["tput_hosts"], seconds=s["tput_seconds"],
                                      preferred=preferred, rng=rng, least=s["tput_least"])]
    if "process" in sections:
        out["process"] = [process.run(workdir, commands=s["process_commands"], preferred=p)
                          for p in (False, True)]
    if "rolling" in sections:
        out["rolling"] = rolling.run(workdir, hosts=s["rolling_hosts"])
    if "household" in sections:
        out["household"] = household.run(workdir, runs=s["household_runs"])
    if "flood" in sections:
        out["flood"] = flood.run(workdir, messages=30 if quick else 300)
    if "burst" in sections:
        out["burst"] = burst.run(workdir, commands=30 if quick else 300)
    out["seconds"] = time.time() - started
    out["load_after"] = loadavg()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: check the harness")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    ap.add_argument("--seed", type=int, default=8, help="seeds the offered-load arrivals")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results.md"))
    ap.add_argument("--plot", default=None, help="PNG path (default: beside --out)")
    ap.add_argument("--json", default=str(ROOT / "artifacts" / "bench.json"))
    ap.add_argument("--splice", action="store_true",
                    help="write only the rolling, household, flood and burst sections into "
                         "--out, "
                         "keeping the rest")
    ap.add_argument("--from-json", metavar="PATH",
                    help="measure nothing: rewrite the report from a saved run's numbers")
    args = ap.parse_args(argv)
    sections = tuple(x.strip() for x in args.only.split(",") if x.strip())
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
    out = Path(args.out)
    plot = Path(args.plot) if args.plot else out.with_name("latency.png")
    if args.from_json:
        results = json.loads(Path(args.from_json).read_text())
    else:
        progress(f"load average {loadavg()}; sections: {', '.join(sections)}")
        with tempfile.TemporaryDirectory(prefix="troupe-bench-") as tmp:
            results = run(sections, args.quick, args.seed, Path(tmp))
        _write(Path(args.json), json.dumps(results, indent=1, default=str))
    if not args.splice and report.plot(results, plot):
        progress(f"wrote {plot}")
    if args.splice:
        text = out.read_text() if out.exists() else ""
        for section in (report.rolling_section(results), report.household_section(results),
                        report.flood_section(results), report.burst_section(results)):
            text = report.splice(text, section) if section else text
        _write(out, text)
    else:
        _write(out, report.markdown(results, plot_name=plot.name))
    progress(f"wrote {out}" + ("" if args.from_json else
                               f" and {args.json}; measured in {results['seconds']:.0f} s"))
    return 0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    raise SystemExit(main())
