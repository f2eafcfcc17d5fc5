"""Flood: an outsider's messages must not starve the house (issue 12, item 3).

3 Pis under Slack's real rate limits (the emulator's token buckets) with 50 ms added to
every Web API call. A person outside ``[auth] users`` posts 300 commands; then an
authorized person asks `toggle dining light` (a Hue light). Measured: the time from that
message to its answer and to the bridge's write, and what the flood cost the Pis in Web
API calls (refusals are one ephemeral from one Pi, none past 3 a minute per person).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from troupe.sim.hue import HueBridge
from troupe.testing import Federation, wait_for

from .common import progress


def run(workdir: Path, *, messages: int = 300, hosts: int = 3, latency_ms: int = 50,
        rate_limits: str = "real") -> dict[str, Any]:
    progress(f"flood: {messages} outsider messages, then an authorized toggle; {hosts} Pis, "
             f"rate limits {rate_limits}, {latency_ms} ms per call")
    with HueBridge(lights=["Dining"], groups={}) as bridge:
        fed = Federation(workdir / "flood", hosts, plugins=["lights"], rate_limits=rate_limits,
                         latency_ms=latency_ms,
                         config={"hue": {"bridge": bridge.address, "username": bridge.username},
                                 "lights": {"dining": {"hue": "Dining"}}})
        with fed:
            outsider = fed.ws.add_user("mallory")
            before = fed.ws.call_counts()
            for _ in range(messages):
                fed.ws.post("toggle dining light", user=outsider["id"])
            changes = len(bridge.changes())
            ts = fed.say("toggle dining light")
            answer = fed.wait_for_answer(ts, timeout=600)
            wait_for(lambda: len(bridge.changes()) > changes, 60, "the bridge's write")
            write = min(c["time"] for c in bridge.changes()[changes:])
            after = fed.ws.call_counts()
    spent: dict[str, int] = {}
    for pi, calls in after.items():
        for method, n in calls.items():
            extra = n - before.get(pi, {}).get(method, 0)
            if extra:
                spent[method] = spent.get(method, 0) + extra
    result = {"messages": messages, "hosts": hosts, "latency_ms": latency_ms,
              "rate_limits": rate_limits, "answer_s": float(answer["ts"]) - float(ts),
              "write_s": write - float(ts), "calls": spent}
    progress(f"  answered {result['answer_s']:.2f} s after the message (bridge write "
             f"{result['write_s']:.2f} s); calls spent: {spent}")
    return result
