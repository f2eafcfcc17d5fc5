"""Claim, finish, late claimers, duplicate deliveries, the context manager."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from slackmq_helpers import make_mq

import slackmq
from slackmq import Claim, Markers, SlackMQ


def counts(ws, i):
    return dict(ws.call_counts().get(ws.apps[i]["name"], {}))


def delta(before, after):
    keys = set(before) | set(after)
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys if after.get(k) != before.get(k)}


def test_won_lost_done_and_their_calls(ws16):
    a, b, c = (make_mq(ws16, i) for i in range(3))
    ts = ws16.post("toggle dining light")
    b0, c0 = counts(ws16, 1), counts(ws16, 2)
    a0 = counts(ws16, 0)
    claim = a.claim(ts)
    assert claim.status == "won" and claim.won and isinstance(claim, Claim)
    assert delta(a0, counts(ws16, 0)) == {"pins.add": 1, "reactions.get": 1}
    lost = b.claim(ts)
    assert lost.status == "lost" and not lost.won
    assert delta(b0, counts(ws16, 1)) == {"pins.add": 1}  # a lost claim: one round trip
    assert lost.holder.user_id == a.user_id
    assert ws16.pins()[0]["created_by"] == a.user_id
    a1 = counts(ws16, 0)
    claim.done()
    assert delta(a1, counts(ws16, 0)) == {"reactions.add": 1, "pins.remove": 1}
    assert ws16.pins() == [] or all(p["message"]["ts"] != ts for p in ws16.pins())
    assert [r["name"] for r in ws16.reactions(ts)] == ["white_check_mark"]
    late = c.claim(ts)  # arrives after done + release
    assert late.status == "done" and late.outcome == "done" and not late.won
    assert delta(c0, counts(ws16, 2)) == {"pins.add": 1, "reactions.get": 1, "pins.remove": 1}
    assert all(p["message"]["ts"] != ts for p in ws16.pins())  # the late pin was given back


def test_claimed_marks_done_failed_and_skips_when_lost(ws16):
    a, b = make_mq(ws16, 0), make_mq(ws16, 1)
    ts = ws16.post("toggle porch light")
    ran = []
    with a.claimed(ts) as claim:
        assert claim.won
        with b.claimed(ts) as other:
            assert other.status == "lost"
            # not won: leaving the block must not touch the message
        ran.append(1)
    assert ran == [1] and claim.outcome == "done"
    assert [r["name"] for r in ws16.reactions(ts)] == ["white_check_mark"]

    ts2 = ws16.post("toggle broken light")
    with pytest.raises(ZeroDivisionError), a.claimed(ts2) as claim2:
        assert claim2.won
        1 / 0  # noqa: B018
    assert claim2.outcome == "failed"
    assert [r["name"] for r in ws16.reactions(ts2)] == ["x"]
    assert all(p["message"]["ts"] not in (ts, ts2) for p in ws16.pins())
    late = b.claim(ts2)
    assert late.status == "done" and late.outcome == "failed"  # failed is not re-run


def test_release_without_outcome_lets_another_run_it(ws16):
    a, b = make_mq(ws16, 0), make_mq(ws16, 1)
    ts = ws16.post("toggle hall light")
    c = a.claim(ts)
    c.release()  # gave it back before starting
    assert b.claim(ts).won


def test_same_event_twice_to_one_worker_runs_once(ws16):
    a = make_mq(ws16, 0)
    ts = ws16.post("toggle kitchen light")
    runs = 0
    for _ in range(2):  # redelivery (retry_attempt 1) after the first finished
        with a.claimed(ts) as claim:
            if claim.won:
                runs += 1
    assert runs == 1
    before = counts(ws16, 0)
    assert a.claim(ts).status == "done"
    assert delta(before, counts(ws16, 0)) == {}  # remembered: no call at all
    # A restarted worker (fresh SlackMQ, same app) meets the marker instead.
    assert make_mq(ws16, 0).claim(ts).status == "done"
    # Redelivery while the first delivery is still running: lost, not run.
    ts2 = ws16.post("toggle garage light")
    first = a.claim(ts2)
    assert a.claim(ts2).status == "lost"
    first.done()


def test_markers_are_configurable(ws16):
    m = Markers(done="heavy_check_mark", failed="boom", interrupted="zap")
    a, b = make_mq(ws16, 0, markers=m), make_mq(ws16, 1, markers=m)
    ts = ws16.post("toggle attic light")
    with a.claimed(ts):
        pass
    assert [r["name"] for r in ws16.reactions(ts)] == ["heavy_check_mark"]
    assert b.claim(ts).status == "done"


def test_holder_and_stale(ws16):
    a, b = make_mq(ws16, 0), make_mq(ws16, 1, lease=60)
    ts = ws16.post("toggle shed light")
    assert b.holder(ts) is None
    c = a.claim(ts)
    h = b.holder(ts)
    assert h is not None and h.user_id == a.user_id and h.ts == ts
    pin = next(p for p in ws16.pins() if p["message"]["ts"] == ts)  # the workspace is shared
    assert abs(h.since - pin["created"]) < 1e-6
    assert b.stale(ts) is None  # younger than the lease
    assert ts not in [s.ts for s in b.stale_claims()]
    c.done()
    assert b.holder(ts) is None


def test_client_or_token_construction(ws16):
    from slackmq_helpers import client

    mq = SlackMQ(client(ws16, 3), ws16.channel_id)
    ts = ws16.post("toggle x")
    assert mq.claim(ts).won
    assert mq.user_id == ws16.apps[3]["bot_user_id"]


def test_library_never_imports_troupe():
    """Not at import time, and not lazily inside a function either: slackmq stands alone."""
    code = (
        "import importlib, pkgutil, sys, slackmq;"
        "mods = pkgutil.walk_packages(slackmq.__path__, 'slackmq.');"
        "[importlib.import_module(m.name) for m in mods];"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('troupe','troupe_plugins')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    lib = Path(slackmq.__file__).parent
    for path in sorted(lib.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            roots = {n.split(".")[0] for n in names}
            assert not roots & {"troupe", "troupe_plugins"}, f"{path.name}:{node.lineno}"


def test_library_modules_import_no_circle():
    """Each slackmq module imports only modules below it (TYPE_CHECKING imports count too)."""
    lib = Path(slackmq.__file__).parent
    deps: dict[str, set[str]] = {}
    for path in lib.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module} if node.module else {a.name for a in node.names}
        deps[path.stem] = found - {"__init__"}
    done: set[str] = set()

    def visit(mod: str, path: tuple[str, ...]) -> None:
        assert mod not in path, " -> ".join((*path, mod))
        if mod not in done:
            for dep in deps.get(mod, ()):
                visit(dep, (*path, mod))
            done.add(mod)

    for mod in deps:
        visit(mod, ())
    assert {"core", "claim", "takeover", "sequence", "markers"} <= done
