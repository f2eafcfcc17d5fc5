"""Issue 6 end to end: rolling updates of three real `troupe run` processes.

Each Pi runs from its own release root (`<root>/current/venv/bin/troupe run`)
under troupe.sim.supervisor, which plays systemd: it starts the new release
when a Pi exits with 75 and rolls back after repeated failed starts. The
release source is a local git repository made from this project's HEAD (plus
this working tree's update plugin) with five tags:

    v1, v2, v4  good releases (pyproject version 1.0, 2.0, 4.0)
    v3          broken: the core plugin raises at import, so `troupe check` fails
    v5          broken where the check cannot see it: `troupe run` exits at once

No network: releases are built with reuse_site_packages (the test's packages).
The scenarios share one federation and run in order.
"""

from __future__ import annotations

import collections
import io
import json
import os
import re
import subprocess
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from troupe.releases import GitSource, ReleaseRoot
from troupe.sim.supervisor import Service
from troupe.testing import Federation, dump_toml, wait_for

pytestmark = pytest.mark.multihost

PROJECT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().parent / "plugins"
LEASE = 10  # s: [troupe] lease, and a rollout turn's (longer than switch + restart + report)
DEADLINE = 8  # s: a switched Pi must report within this, before the lease ends
PREPARE_WAIT = 30  # s: the rollout goes on without a Pi that did not say ready by then
GIT = ["git", "-c", "user.name=Test", "-c", "user.email=t@example.org",
       "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false", "-c", "init.defaultBranch=main"]


def git(repo: Path, *args: str) -> None:
    subprocess.run([*GIT, "-C", str(repo), *args], check=True, capture_output=True, timeout=60)


BREAK = "\n# broken on purpose\n"


def tag(repo: Path, version: str, broken: str = "") -> None:
    """Tag `version` (pyproject version N.0); `broken`: "check" fails troupe check,
    "run" passes it but `troupe run` exits at once."""
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(re.sub(r'(?m)^version = "[^"]*"', f'version = "{version[1:]}.0"',
                                pyproject.read_text(), count=1))
    core, cli = repo / "plugins" / "core.py", repo / "troupe" / "cli.py"
    core.write_text(core.read_text().split(BREAK)[0])
    cli.write_text(cli.read_text().replace(BREAK + '    raise SystemExit("v5 cannot run")', ""))
    if broken == "check":
        core.write_text(core.read_text() + BREAK + "raise ImportError('v3 is broken on purpose')\n")
    if broken == "run":
        head = "def cmd_run(args: argparse.Namespace) -> int:"
        cli.write_text(cli.read_text().replace(head, head + BREAK +
                                               '    raise SystemExit("v5 cannot run")'))
    git(repo, "commit", "-q", "-am", version)
    git(repo, "tag", version)


def make_source(dest: Path) -> Path:
    """HEAD of this project as a git repository, the update plugin from this tree, 5 tags."""
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(PROJECT), "archive", "HEAD"], check=True,
                             capture_output=True, timeout=60).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    (dest / "plugins" / "update").mkdir(exist_ok=True)
    for mine in (PROJECT / "plugins" / "update").glob("*.py"):
        (dest / "plugins" / "update" / mine.name).write_bytes(mine.read_bytes())
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "troupe")
    for version, broken in (("v1", ""), ("v2", ""), ("v3", "check"), ("v4", ""),
                            ("v5", "run")):
        tag(dest, version, broken)
    return dest


class SupervisedFederation(Federation):
    """Federation whose hosts run from release roots under a stand-in for systemd."""

    def __init__(self, workdir: Path, roots: dict[str, Path], **kwargs: Any) -> None:
        super().__init__(workdir, len(roots), **kwargs)
        self.roots = roots
        self.services: dict[str, Service] = {}

    def start_host(self, name: str, wait: bool = True) -> None:
        path = self.config_path(name)
        path.write_text(dump_toml(self.config_for(name)))
        log_path = self.workdir / f"{name}.log"
        log_path.touch()
        self._logs[name] = (None, log_path, log_path.stat().st_size)
        env = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock",
               "PYTHONUNBUFFERED": "1", **self.env}
        self.services[name] = Service(name, self.roots[name], ["run", "--config", str(path)],
                                      log_path=log_path, env=env, cwd=self.workdir)
        self.services[name].start()
        if wait:
            self.wait_ready(name)

    def wait_ready(self, name: str, timeout: float = 30.0) -> None:
        wait_for(lambda: " ready: " in self.log(name, since_start=True), timeout,
                 f"{name} to connect")

    def kill(self, name: str) -> None:
        self.services[name].kill()

    def stop(self) -> None:
        with ThreadPoolExecutor(len(self.services) or 1) as pool:
            list(pool.map(lambda s: s.stop(5), self.services.values()))
        if self._started:
            self.ws.stop()
            self._started = False


def install_v1(tmp: Path, repo: Path, names: list[str]) -> dict[str, Path]:
    """A release root per Pi under `tmp`, each built and switched to v1 (as install.sh does)."""
    roots = {name: tmp / name / "opt-troupe" for name in names}

    def install(name: str) -> None:
        root = ReleaseRoot(roots[name], GitSource(str(repo)), reuse_site_packages=True)
        root.build("v1")
        root.switch("v1")

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(install, names))
    return roots


@pytest.fixture(scope="module")
def house(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("update-e2e")
    repo = make_source(tmp / "source")
    names = ["pi-1", "pi-2", "pi-3"]
    roots = install_v1(tmp, repo, names)
    probe_log = tmp / "probe.log"
    host_config = {name: {"update": {"root": str(roots[name])}} for name in names}
    fed = SupervisedFederation(
        tmp / "fed", roots, plugins=["update", "probe"], plugin_paths=[PROBE],
        config={"troupe": {"lease": LEASE, "no_taker_wait": 2},
                "probe": {"log": str(probe_log)},
                "update": {"source": "git", "url": str(repo), "deadline": DEADLINE,
                           "lease": LEASE, "reuse_site_packages": True,
                           "prepare_wait": PREPARE_WAIT}},
        host_config=host_config)
    fed.probe_log = probe_log
    with fed:
        yield fed
        print(fed.logs())
        dump(fed)


# ---- helpers -------------------------------------------------------------------------
def dump(fed: Federation) -> None:
    """The channel and its threads, for a failing test's output."""
    for m in fed.ws.messages():
        print("##", m["ts"], m.get("text", "")[:200].replace("\n", " | "))
        replies = fed.ws.messages(thread_ts=m["ts"]) if m.get("reply_count") else []
        for r in (r for r in replies if r["ts"] != m["ts"]):
            text = r.get("text", "")[:300].replace("\n", " | ")
            print("##   ", r["ts"], fed.host_of(r), text)


def kind(message: dict[str, Any]) -> str | None:
    return ((message.get("metadata") or {}).get("event_payload") or {}).get("update")


def about(message: dict[str, Any]) -> str | None:
    return ((message.get("metadata") or {}).get("event_payload") or {}).get("command_ts")


def thread_of(fed: Federation, ts: str, what: str | None = None,
              command: str | None = None) -> list[dict[str, Any]]:
    """The Pis' posts in the thread `ts` (of kind `what`; about the command `command`)."""
    return [m for m in fed.bot_messages(thread_ts=ts) if (what is None or kind(m) == what)
            and (command is None or about(m) == command)]


def rollout_post(fed: Federation, root: str, version: str, timeout: float = 60,
                 after: str | None = None) -> str:
    """The `update rollout <version>` a Pi posts in the thread of the person's `update` (`root`)
    once every Pi is ready (posted after `after`, if given)."""
    def find() -> str | None:
        for m in fed.bot_messages(thread_ts=root, after=after):
            if m.get("text", "").startswith(f"update rollout {version}"):
                return m["ts"]
        return None
    return wait_for(find, timeout, f"update rollout {version}")


def summary(fed: Federation, root: str, timeout: float, command: str | None = None
            ) -> dict[str, Any]:
    return wait_for(lambda: thread_of(fed, root, "summary", command)[:1], timeout,
                    "the summary")[0]


def top_level_bot_messages(fed: Federation, after: str) -> list[dict[str, Any]]:
    """The Pis' messages at the channel's top level (not in any thread) posted after `after`."""
    return [m for m in fed.ws.messages() if m.get("bot_id") and float(m["ts"]) > float(after)
            and m.get("thread_ts") in (None, m["ts"])]


def releases(fed: SupervisedFederation) -> dict[str, str | None]:
    return {n: ReleaseRoot(r).current_version() for n, r in fed.roots.items()}


def versions_answered(fed: Federation) -> dict[str, str]:
    """`version`: one answer at top level for the house, a line per Pi (from the boards)."""
    ts = fed.say("version")
    answer = fed.wait_for_answer(ts, 20)
    wait_for(lambda: any(r["name"] == "white_check_mark" for r in fed.ws.reactions(ts)), 20,
             "the version command marked done")
    assert [m["ts"] for m in top_level_bot_messages(fed, ts)] == [answer["ts"]]
    assert fed.answers_to(ts) == [answer] and "thread_ts" not in answer
    lines = re.findall(r"^- (pi-\d): (.*?)(?: \(answering\))?$", answer["text"], re.M)
    assert len(lines) == 3, answer["text"]
    return {name: f"{name}: {text}" for name, text in lines}


class Away:
    """Samples the emulator's Socket Mode connections: how many Pis are offline at once."""

    def __init__(self, fed: Federation) -> None:
        self.fed = fed
        self.most = 0
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            away = [n for n in self.fed.host_names if self.fed.ws.connections(n) == 0]
            self.seen.update(away)
            self.most = max(self.most, len(away))

    def __enter__(self) -> Away:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


class Stream:
    """A person posting `count N` every 0.5 s."""

    def __init__(self, fed: Federation, start: int) -> None:
        self.fed = fed
        self.n = start
        self.posted: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.posted[self.n] = self.fed.say(f"count {self.n}")
            self.n += 1
            self._stop.wait(0.5)

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def waits(self) -> dict[int, float]:
        """Seconds from each command to its first answer (fails if one has none)."""
        def answered() -> bool:
            return all(self.fed.answers_to(ts) for ts in self.posted.values())
        wait_for(answered, 20, "an answer to every count")
        return {n: float(self.fed.answers_to(ts)[0]["ts"]) - float(ts)
                for n, ts in self.posted.items()}


# ---- the scenarios ---------------------------------------------------------------------
def test_update_to_v2_while_commands_keep_running(house):
    fed = house
    assert versions_answered(fed) == {n: f"{n}: v1" for n in fed.host_names}
    started = time.monotonic()
    with Away(fed) as away, Stream(fed, 1000) as stream:
        ts = fed.say("update to v2")
        rollout = rollout_post(fed, ts, "v2")
        done = summary(fed, ts, 90)
    took = time.monotonic() - started
    waits = stream.waits()
    top = top_level_bot_messages(fed, ts)  # before `version` below adds its answer
    runs = fed.probe_log.read_text().split("\n")
    for n in stream.posted:
        assert sum(line.startswith(f"count {n} ") for line in runs) == 1, n
    print(f"\nupdate to v2: {took:.1f} s for 3 Pis; {len(waits)} commands, "
          f"max wait {max(waits.values()):.2f} s; at most {away.most} Pi(s) away at once")
    assert max(waits.values()) <= 5.0, waits
    assert away.most == 1 and away.seen == set(fed.host_names)  # each went, one at a time
    assert releases(fed) == {n: "v2" for n in fed.host_names}
    assert versions_answered(fed) == {n: f"{n}: v2; previous v1" for n in fed.host_names}
    for name in fed.host_names:
        assert re.search(rf"• {name}: v1 → v2 in \d+ s", done["text"]), done["text"]
        assert fed.services[name].exits == [75]
    reports = thread_of(fed, ts, "done")
    assert sorted(fed.host_of(m) for m in reports) == fed.host_names
    # The channel's top level: the person's `update to v2` and nothing of the Pis' about it
    # (plan, ready, the rollout post, reports, summary: all in its thread); the only bot
    # messages there answer the person's counts, one each.
    counts = set(stream.posted.values())
    assert all(about(m) in counts for m in top), [m["text"][:60] for m in top]
    assert len(top) == len({about(m) for m in top}), [m["text"][:60] for m in top]
    assert any(m["ts"] == rollout for m in fed.ws.messages(thread_ts=ts))
    assert all(re.fullmatch(r"pi-\d now on v2 \(took \d+ s\)", m["text"]) for m in reports)
    # Each Pi gives its turn back once. A second unpin (the plugin's and the core's, both
    # finishing the turn after the restart) could remove the next Pi's fresh pin: two Pis
    # were then away at once. (The last Pi posts the summary, then gives its turn back.)
    wait_for(lambda: not any(i.get("message", {}).get("ts") == rollout for i in fed.ws.pins()),
             10, "the last turn given back")
    unpins = collections.Counter(c["app"] for c in fed.ws.log()["calls"]
                                 if c["method"] == "pins.remove"
                                 and c["args"].get("timestamp") == rollout)
    assert unpins == {name: 1 for name in fed.host_names}, unpins


def test_update_to_broken_v3_halts_before_any_pi_leaves(house):
    fed = house
    starts = {n: s.starts for n, s in fed.services.items()}
    ts = fed.say("update to v3")
    halt = wait_for(lambda: thread_of(fed, ts, "halt")[:1], 60, "the halt")[0]
    assert "Not rolling out v3" in halt["text"] and "health check failed" in halt["text"]
    assert "v3 is broken on purpose" in halt["text"] and "No Pi switched" in halt["text"]
    assert "Rollout halted" in halt["text"]
    assert not any(m.get("text", "").startswith("update rollout v3")
                   for m in fed.bot_messages(after=ts) + fed.bot_messages(thread_ts=ts))
    assert not top_level_bot_messages(fed, ts)
    assert len(thread_of(fed, ts, "unready")) == 3
    assert releases(fed) == {n: "v2" for n in fed.host_names}
    assert {n: s.starts for n, s in fed.services.items()} == starts  # nobody restarted


def step_of(fed: SupervisedFederation, name: str) -> dict[str, Any]:
    try:
        return json.loads((fed.roots[name] / "update-state.json").read_text())
    except (OSError, ValueError):
        return {}


def test_a_pi_killed_during_its_turn_is_passed_over_and_reported(house):
    fed = house
    ts = fed.say("update to v4")
    rollout = rollout_post(fed, ts, "v4")

    def switching() -> str | None:
        return next((n for n in fed.host_names if step_of(fed, n).get("ts") == rollout), None)

    victim = wait_for(switching, 30, "the first turn", interval=0.01)
    fed.kill(victim)  # a power cut in the middle of its update: switched, not yet back
    killed = time.monotonic()
    assert ReleaseRoot(fed.roots[victim]).current_version() == "v4"
    done = summary(fed, ts, 4 * LEASE + 30)
    print(f"\n{victim} killed; the rollout went on after {time.monotonic() - killed:.1f} s")
    assert re.search(rf"• {victim}: stopped answering during its turn", done["text"])
    others = [n for n in fed.host_names if n != victim]
    for name in others:
        assert re.search(rf"• {name}: v2 → v4 in \d+ s", done["text"]), done["text"]
        assert ReleaseRoot(fed.roots[name]).current_version() == "v4"
    user = next(a["bot_user_id"] for a in fed.ws.apps if a["name"] == victim)
    notes = [m["text"] for m in thread_of(fed, ts, command=rollout)]
    assert any(t.startswith(f"<@{user}> stopped answering") for t in notes), notes
    assert not top_level_bot_messages(fed, ts)  # the takeover's report too: in the thread
    fed.victim = victim


def test_power_back_then_rollback(house):
    fed = house
    fed.start_host(fed.victim)  # it boots the release it switched to, long after its turn
    step = step_of(fed, fed.victim)
    rollout, root = step["ts"], step["thread"]
    assert rollout != root  # the rollout post is a reply in the thread of `update to v4`
    late = wait_for(lambda: [m for m in thread_of(fed, root, "done", rollout)
                             if fed.host_of(m) == fed.victim][:1], 30, "the late report")[0]
    assert re.fullmatch(rf"{fed.victim} now on v4 \(took \d+ s\)", late["text"])
    ts = fed.say("rollback")
    done = summary(fed, ts, 60)
    for name in fed.host_names:
        assert re.search(rf"• {name}: v4 → v2 in \d+ s", done["text"]), done["text"]
    assert done["text"].startswith("Rollback done in")
    assert releases(fed) == {n: "v2" for n in fed.host_names}
    assert not top_level_bot_messages(fed, ts)


def canary_report(fed: Federation, root: str) -> dict[str, Any]:
    def find() -> list[dict[str, Any]]:
        return [m for m in thread_of(fed, root, "done") if "Canary:" in m["text"]][:1]
    return wait_for(find, 60, "the canary's report")[0]


def test_canary_turned_down_then_approved(house):
    fed = house
    person = WebClient(token=fed.ws.user["token"], base_url=fed.ws.api_url)
    root = fed.say("update to v4 --canary")
    rollout = rollout_post(fed, root, "v4")
    report = canary_report(fed, root)
    canary = fed.host_of(report)
    wait_for(lambda: sum(r["count"] for r in fed.ws.reactions(rollout)
                         if r["name"] == "white_check_mark") == 3, 30, "every turn")
    assert releases(fed) == {n: "v4" if n == canary else "v2" for n in fed.host_names}
    person.reactions_add(channel=fed.ws.channel_id, timestamp=report["ts"], name="-1")
    halt = wait_for(lambda: thread_of(fed, root, "halt")[:1], 30, "the halt")[0]
    assert "turned the canary down" in halt["text"]
    back = wait_for(lambda: thread_of(fed, root, "note")[:1], 30, "the canary back")[0]
    assert re.fullmatch(rf"{canary} back on v2 \(took \d+ s\)", back["text"])
    assert releases(fed) == {n: "v2" for n in fed.host_names}

    root = fed.say("update to v4 --canary")
    rollout_post(fed, root, "v4")
    report = canary_report(fed, root)
    canary = fed.host_of(report)
    person.reactions_add(channel=fed.ws.channel_id, timestamp=report["ts"], name="+1")
    approved = wait_for(lambda: thread_of(fed, root, "approved")[:1], 30, "the approval")[0]
    rest = rollout_post(fed, root, "v4", after=approved["ts"])  # in the same thread
    done = summary(fed, root, 60, command=rest)
    assert f"• {canary}: already on v4" in done["text"], done["text"]
    for name in fed.host_names:
        if name != canary:
            assert re.search(rf"• {name}: v2 → v4 in \d+ s", done["text"]), done["text"]
    assert releases(fed) == {n: "v4" for n in fed.host_names}
    assert not top_level_bot_messages(fed, root)  # the approval's rollout: in the thread too


def test_a_release_that_does_not_start_is_rolled_back_and_halts(house):
    fed = house
    assert releases(fed) == {n: "v4" for n in fed.host_names}
    root = fed.say("update to v5")
    rollout = rollout_post(fed, root, "v5")
    halt = wait_for(lambda: thread_of(fed, root, "halt")[:1], 60, "the halt")[0]
    first = fed.host_of(halt)
    assert halt["text"] == (f":octagonal_sign: {first} could not run v5: v5 did not start, so "
                            f"the service manager went back. {first} is back on v4. Rollout "
                            "halted: the other Pis stay as they are.")
    service = fed.services[first]
    assert service.exits[-4:] == [75, 1, 1, 1] and service.rollbacks == ["v4"]
    assert ReleaseRoot(fed.roots[first]).failed("v5")
    wait_for(lambda: sum(r["count"] for r in fed.ws.reactions(rollout)
                         if r["name"] == "white_check_mark") == 3, 30, "every turn")
    assert releases(fed) == {n: "v4" for n in fed.host_names}
    assert not thread_of(fed, root, "summary")


def test_a_pi_away_when_the_rollout_is_posted_takes_its_turn_from_catch_up(house):
    """The rollout post is a reply in the thread of `update to`: a Pi that was off when it
    was posted, and holds no pin on it, finds it only by reading the recent threads on
    catch-up (its envelope is not kept for it), then takes its turn as the last Pi."""
    fed = house
    assert releases(fed) == {n: "v4" for n in fed.host_names}
    away = fed.host_names[-1]
    hold_limit = fed.ws.server.hub.hold_limit
    fed.ws.server.hub.hold_limit = 1.0  # envelopes for a Pi without a connection: not kept
    try:
        fed.services[away].stop(10)
        root = fed.say("update to v2")
        rollout = rollout_post(fed, root, "v2", timeout=PREPARE_WAIT + 30)
        go = thread_of(fed, root, "go")[-1]
        assert f"{away} did not report ready" in go["text"], go["text"]
        others = [n for n in fed.host_names if n != away]
        wait_for(lambda: sorted(fed.host_of(m) for m in thread_of(fed, root, "done", rollout))
                 == others, 60, "the other Pis' turns")
        assert not thread_of(fed, root, "summary")  # the Pi away is not accounted for yet
        wait_for(lambda: time.time() > float(rollout) + 1.5, 5, "its envelope to expire")
        fed.start_host(away)
        done = summary(fed, root, 60, command=rollout)
    finally:
        fed.ws.server.hub.hold_limit = hold_limit
    for name in fed.host_names:
        assert re.search(rf"• {name}: v4 → v2 in \d+ s", done["text"]), done["text"]
    assert fed.host_of(done) == away  # the last turn was the catching-up Pi's
    assert releases(fed) == {n: "v2" for n in fed.host_names}
    assert not top_level_bot_messages(fed, root)
