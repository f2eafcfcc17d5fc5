"""Command latency and Slack API calls per command, with 1, 3 and 5 Pis.

One command at a time (`toggle dining light`, lights plugin, phue against the
emulated Hue bridge): posted (the message's ts) -> device changed (the bridge's
record of the write) -> answer posted (the answer's ts). Every call any Pi made
between the first post and the last release is counted, by method.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from troupe.sim.hue import HueBridge
from troupe.testing import Federation, wait_for

from .common import by_method, calls_between, fed_env, progress, quiet, settle, summary_ms

COMMAND = "toggle dining light"


def lights_federation(workdir: Path, hosts: int, hue: HueBridge, *, latency_ms: int,
                      preferred: bool | float) -> Federation:
    config = {"hue": {"bridge": hue.address, "username": hue.username},
              "lights": {"dining": {"hue": "Dining"}},
              "troupe": {"lease": 5, "no_taker_wait": 2}}
    return Federation(workdir, hosts, plugins=["lights"], config=config,
                      env=fed_env(preferred), latency_ms=latency_ms)


def measure(workdir: Path, hosts: int, *, latency_ms: int, commands: int,
            preferred: bool | float = False, dead: int = 0) -> dict[str, Any]:
    """Run `commands` toggles one after another; latencies and calls per command."""
    label = f"{hosts} Pi(s), {latency_ms} ms, preferred={preferred}, dead={dead}"
    progress(f"latency: {label}")
    with HueBridge(lights=["Dining"]) as hue:
        fed = lights_federation(workdir, hosts, hue, latency_ms=latency_ms, preferred=preferred)
        started = time.time()
        with fed:
            for name in fed.host_names[hosts - dead:]:
                fed.kill(name)  # a Pi that is off: still a member of the channel
            # One command first: connections warm, member lists cached.
            fed.wait_for_answer(fed.say(COMMAND), 30)
            settle(fed)
            quiet(fed, started)
            device, answer, start = [], [], None
            seen = len(hue.changes())
            for _ in range(commands):
                ts = fed.say(COMMAND)
                start = start or float(ts)
                reply = fed.wait_for_answer(ts, 30)
                changed = wait_for(lambda n=seen: hue.changes()[n:], 10, "the light to change")
                seen += len(changed)
                device.append(changed[0]["time"] - float(ts))
                answer.append(float(reply["ts"]) - float(ts))
                settle(fed)
            calls = calls_between(fed, start, wait_for(lambda: _last_call(fed), 5, "calls"))
            winners = _winners(fed)
    return {"hosts": hosts, "latency_ms": latency_ms, "preferred": preferred, "dead": dead,
            "device": summary_ms(device), "answer": summary_ms(answer),
            "calls": by_method(calls, commands), "calls_total": len(calls) / commands,
            "winners": winners}


def _last_call(fed: Federation) -> float:
    calls = fed.ws.log()["calls"]
    return calls[-1]["time"] if calls else 0.0


def _winners(fed: Federation) -> dict[str, int]:
    """How many answers each Pi gave (is the work spread?)."""
    counts: dict[str, int] = {}
    for m in fed.bot_messages():
        if (m.get("metadata") or {}).get("event_payload", {}).get("command_ts"):
            host = fed.host_of(m)
            counts[host] = counts.get(host, 0) + 1
    return dict(sorted(counts.items()))


def run(workdir: Path, *, commands: int, hosts: tuple[int, ...] = (1, 3, 5),
        latencies: tuple[int, ...] = (0, 50), preferred: bool | float = False
        ) -> list[dict[str, Any]]:
    rows = []
    for latency_ms in latencies:
        for n in hosts:
            rows.append(measure(workdir / f"lat-{latency_ms}-{n}-{preferred}", n,
                                latency_ms=latency_ms, commands=commands, preferred=preferred))
    return rows


def measure_only(workdir: Path, hosts: int, *, latency_ms: int, commands: int,
                 preferred: bool | float = False) -> dict[str, Any]:
    """`only pi-X N` (probe: runs only on pi-X), X in turn: a device on one Pi."""
    from .common import probe_federation

    progress(f"latency: device on one Pi, {hosts} Pis, {latency_ms} ms, preferred={preferred}")
    started = time.time()
    with probe_federation(workdir / f"only-{hosts}-{preferred}", hosts, preferred=preferred,
                          latency_ms=latency_ms) as (fed, _runs):
        fed.wait_for_answer(fed.say("only pi-1 -1"), 30)
        settle(fed)
        quiet(fed, started)
        answer, start, wrong = [], None, 0
        for n in range(commands):
            ts = fed.say(f"only {fed.host_names[n % hosts]} {n}")
            start = start or float(ts)
            reply = fed.wait_for_answer(ts, 30)
            answer.append(float(reply["ts"]) - float(ts))
            wrong += reply["text"] != f"only {n}"  # e.g. "Nobody ran ...": a Pi that cannot
            settle(fed)
        calls = calls_between(fed, start, wait_for(lambda: _last_call(fed), 5, "calls"))
    return {"hosts": hosts, "latency_ms": latency_ms, "preferred": preferred, "dead": 0,
            "answer": summary_ms(answer), "calls": by_method(calls, commands),
            "calls_total": len(calls) / commands, "wrong_answers": wrong}
