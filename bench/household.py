"""Household: a scene, `lights` and the channel's noise, as a person in the house sees them.

- scene: a 12-step Hue scene on 3 Pis under Slack's real rate limits (the emulator's
  token buckets: chat.postMessage about one a second per channel and app) with 50 ms
  added to every Web API call: from the person's message to the Hue bridge's last write
  (its own time stamps), and the bot messages each run posts (top level / in threads).
- lights: `lights` with one GPIO light on each of 3 Pis (and the Hue lights): the bot
  messages it posts and the time from the message to its answer.
- noise: bot messages (top level / in threads) per human command, for every built-in one.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path
from typing import Any

from troupe.sim.hue import HueBridge
from troupe.testing import Federation, wait_for

from .common import progress

LIGHT_NAMES = [f"Lamp {i}" for i in range(1, 13)]


def bot_messages(fed: Federation, after: str) -> dict[str, int]:
    """Bot messages posted after `after`, top level and in threads (any thread)."""
    top = [m for m in fed.bot_messages(after=after) if "thread_ts" not in m]
    threads = 0
    for parent in [m for m in fed.ws.messages() if float(m["ts"]) >= float(after)]:
        if parent.get("reply_count") or parent.get("thread_ts"):
            threads += len([m for m in fed.ws.messages(thread_ts=parent["ts"])
                            if m.get("bot_id") and m["ts"] != parent["ts"]])
    return {"top": len(top), "threads": threads}


def _quiet(fed: Federation, gap: float = 1.0, timeout: float = 60.0) -> None:
    """Until no Web API call for `gap` s (answers, edits and unpins have all gone out)."""
    def done() -> bool:
        calls = fed.ws.log()["calls"]
        return not calls or time.time() - calls[-1]["time"] >= gap
    wait_for(done, timeout, "the Pis to fall quiet", interval=0.1)


def scene(workdir: Path, *, runs: int = 5, hosts: int = 3, latency_ms: int = 50,
          rate_limits: str = "real") -> dict[str, Any]:
    progress(f"household scene: 12 Hue lights, {hosts} Pis, rate limits {rate_limits}, "
             f"{latency_ms} ms per call, {runs} runs")
    with HueBridge(lights=LIGHT_NAMES, groups={}) as bridge:
        lights = {f"lamp{i}": {"hue": name} for i, name in enumerate(LIGHT_NAMES, 1)}
        steps_on = [f"switch lamp{i} on" for i in range(1, 13)]
        steps_off = [f"switch lamp{i} off" for i in range(1, 13)]
        fed = Federation(workdir / "scene", hosts, plugins=["scenes", "lights"],
                         rate_limits=rate_limits, latency_ms=latency_ms,
                         config={"hue": {"bridge": bridge.address, "username": bridge.username},
                                 "lights": lights,
                                 "scenes": {"goodnight": {"steps": steps_off},
                                            "evening": {"steps": steps_on}},
                                 "aliases": {"goodnight": "scene goodnight"}})
        seconds, messages = [], []
        with fed:
            _quiet(fed)
            for i in range(runs):
                name = "evening" if i % 2 == 0 else "goodnight"
                want = name == "evening"
                before = len(bridge.changes())
                ts = fed.say(name if name == "goodnight" else f"scene {name}")
                said = float(ts)

                def settled(before=before, want=want) -> bool:
                    ch = [c for c in bridge.changes()[before:] if c["attr"] == "on"]
                    return all(bridge.light(n)["on"] is want for n in LIGHT_NAMES) and ch
                wait_for(settled, 120, f"scene {name} to switch every light")
                last = max(c["time"] for c in bridge.changes()[before:] if c["attr"] == "on")
                seconds.append(last - said)
                _quiet(fed)
                messages.append(bot_messages(fed, ts))
                progress(f"  run {i + 1}: {seconds[-1]:.2f} s to the last light, "
                         f"{messages[-1]} bot messages")
    return {"hosts": hosts, "latency_ms": latency_ms, "rate_limits": rate_limits,
            "runs": runs, "seconds": seconds, "median_s": statistics.median(seconds),
            "messages": messages,
            "median_messages": statistics.median(m["top"] + m["threads"] for m in messages)}


HOUSE_LIGHTS = {"dining": {"hue": "Dining"}, "lounge": {"hue": "Lounge"},
                "porch": {"gpio": 17, "host": "pi-1"}, "shed": {"gpio": 17, "host": "pi-2"},
                "garden": {"gpio": 17, "host": "pi-3"}}
HOUSE_SENSORS = {f"door{i}": {"type": "door", "gpio": 4, "host": f"pi-{i}"} for i in (1, 2, 3)}
# Every command a person types, once each (update and rollback: the rolling section).
COMMANDS = ["help", "help lights", "roll call", "status", "debug on", "debug off",
            "target pi-1", "target all", "toggle dining light", "switch dining off",
            "switch porch on", "switch shed on for 1 minute", "dim lounge to 40%", "lights",
            "sensors", "scenes", "scene evening", "in 30 minutes switch dining off",
            "schedules", "cancel schedule {sid}", "version", "hello there"]


def house(workdir: Path, bridge: HueBridge, latency_ms: int, rate_limits: str) -> Federation:
    # The update plugin for `version` (an empty release root each: no release, no source
    # needed; `update` itself is measured by the rolling section).
    roots = {f"pi-{i}": workdir / f"pi-{i}-opt-troupe" for i in (1, 2, 3)}
    for root in roots.values():
        root.mkdir(parents=True, exist_ok=True)
    return Federation(workdir, 3, plugins=["scenes", "lights", "sensors", "schedules", "update"],
                      gpio=True, rate_limits=rate_limits, latency_ms=latency_ms,
                      config={"hue": {"bridge": bridge.address, "username": bridge.username},
                              "lights": HOUSE_LIGHTS, "sensors": HOUSE_SENSORS,
                              "scenes": {"evening": {"steps": [
                                  "switch dining on", "switch lounge on", "switch porch on",
                                  "switch shed on", "switch garden on"]}},
                              "update": {"url": str(workdir / "no-release-source")}},
                      host_config={name: {"update": {"root": str(root)}}
                                   for name, root in roots.items()})


def lights_and_noise(workdir: Path, *, runs: int = 5, latency_ms: int = 50,
                     rate_limits: str = "real") -> dict[str, Any]:
    progress(f"household lights and noise: 3 Pis with a GPIO light each, rate limits "
             f"{rate_limits}, {latency_ms} ms per call")
    with HueBridge(lights=["Dining", "Lounge"], groups={}) as bridge:
        fed = house(workdir / "house", bridge, latency_ms, rate_limits)
        with fed:
            _quiet(fed, gap=1.5)
            seconds, messages = [], []
            for _ in range(runs):
                ts = fed.say("lights")
                answer = fed.wait_for_answer(ts, 30)
                _quiet(fed, gap=1.5)
                final = fed.answers_to(ts)[-1]
                done = float((final.get("edited") or {}).get("ts") or final["ts"])
                seconds.append(done - float(ts))
                messages.append(bot_messages(fed, ts))
                progress(f"  lights: {seconds[-1]:.2f} s to the whole answer, {messages[-1]}; "
                         f"{answer['text'][:60]!r}")
            noise = []
            sid = ""
            for text in COMMANDS:
                text = text.format(sid=sid)
                ts = fed.say(text)
                try:
                    first = fed.wait_for_answer(ts, 10)["text"]
                except TimeoutError:
                    first = ""  # no answer naming the command within 10 s
                _quiet(fed, gap=2.0)
                found = re.search(r"Schedule `([^`]+)`", first)
                sid = found.group(1) if found else sid
                noise.append({"command": text, **bot_messages(fed, ts)})
                progress(f"  {text!r}: {noise[-1]}")
    return {"lights": {"runs": runs, "seconds": seconds, "median_s": statistics.median(seconds),
                       "messages": messages, "median_messages": statistics.median(
                           m["top"] + m["threads"] for m in messages)},
            "noise": noise}


def run(workdir: Path, *, runs: int = 5) -> dict[str, Any]:
    return {"scene": scene(workdir, runs=runs), **lights_and_noise(workdir, runs=runs)}


if __name__ == "__main__":  # the measurement alone: python -m bench.household
    import json
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="troupe-household-") as tmp:
        print(json.dumps(run(Path(tmp), runs=int(sys.argv[1]) if sys.argv[1:] else 3), indent=1))
