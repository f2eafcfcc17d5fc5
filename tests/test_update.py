"""The update plugin's parts, in process: settings, commands, threads, watchdog, supervisor.

The whole rollout, with real `troupe run` processes, is tests/test_update_e2e.py.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from troupe_plugins.update import Update, state, thread
from troupe_plugins.update.canary import DOWN, UP, Canary
from troupe_plugins.update.config import check_update
from troupe_plugins.update.release import Releases, Watchdog

import troupe
from troupe.commands import best_match, commands_of
from troupe.releases import ReleaseError, ReleaseRoot
from troupe.sim.supervisor import Service
from troupe.testing import wait_for

GIT = ["git", "-c", "user.name=T", "-c", "user.email=t@example.org", "-c", "tag.gpgsign=false",
       "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]


# ---- settings --------------------------------------------------------------------------
def keys(raw: dict[str, Any]) -> dict[str, str]:
    return {p.key: p.expected for p in Update.check(raw, "pi-1")}


def test_settings_are_checked_by_key(tmp_path):
    assert keys({"update": {"url": "https://example.org/troupe.git", "root": str(tmp_path)}}) == {}
    assert keys({"update": {"source": "index", "root": str(tmp_path)}}) == {}
    problems = keys({"update": {"source": "svn", "root": "opt", "deadline": -1, "keep": 1.5,
                                "colour": "red", "reuse_site_packages": "yes"}})
    assert set(problems) == {"update.source", "update.root", "update.deadline", "update.keep",
                             "update.colour", "update.reuse_site_packages"}
    assert "absolute path" in problems["update.root"]
    assert "unknown key" in problems["update.colour"]
    assert set(keys({"update": {}})) == {"update.url"}  # git is the default source
    assert set(keys({"update": {"url": "--upload-pack=evil"}})) == {"update.url"}
    assert set(keys({"update": {"source": "index", "index_url": "file:///x"}})) == {
        "update.index_url"}
    assert set(keys({"update": "git"})) == {"update"}
    settings, problems = check_update({"update": {"url": "/srv/troupe.git", "deadline": 20}})
    assert problems == [] and settings.deadline == 20 and settings.root == Path("/opt/troupe")
    assert settings.lease == 50  # a turn may last the deadline and a margin
    assert "more than update.deadline (60 s)" in keys({"update": {"url": "/x", "lease": 30}})[
        "update.lease"]


def test_check_names_placeholders_and_a_missing_release_root(tmp_path):
    # docs/deploy.md's URL copied as it is
    url = "https://github.com/<you>/troupe.git"
    assert "placeholder" in keys({"update": {"url": url, "root": str(tmp_path)}})["update.url"]
    # the default /opt/troupe (or any root) that deploy/install.sh has not made yet
    missing = keys({"update": {"url": "https://example.org/t.git", "root": str(tmp_path / "no")}})
    assert set(missing) == {"update.root"} and "deploy/install.sh" in missing["update.root"]


# ---- commands --------------------------------------------------------------------------
@pytest.mark.parametrize("text, name, args", [
    ("update", "update", {}),
    ("update to v4", "update", {"version": "v4"}),
    ("update v4", "update", {"version": "v4"}),
    ("update --canary", "update", {"canary": "--canary"}),
    ("update to v4 canary", "update", {"version": "v4", "canary": "canary"}),
    ("update prepare v4", "prepare", {"version": "v4"}),
    ("update rollout v4 --canary", "rollout", {"version": "v4", "canary": "--canary"}),
    ("rollback", "rollback", {}),
    ("version", "version", {}),
])
def test_commands(text, name, args):
    match = best_match(text, commands_of(Update))
    assert match is not None and match.spec.name == name and match.args == args


def test_modes_and_the_turns_lease(tmp_path):
    modes = {s.name: s.mode for s in commands_of(Update)}
    assert modes == {"update": "exclusive", "prepare": "broadcast", "rollout": "sequential",
                     "rollback": "sequential", "version": "exclusive"}
    host = SimpleNamespace(name="pi-1", config=SimpleNamespace(path=None))
    Update(host, {}, {"update": {"url": "/x", "root": str(tmp_path), "lease": 75}})
    leases = {s.name: s.lease for s in commands_of(Update) if s.mode == "sequential"}
    assert leases == {"rollout": 75, "rollback": 75}


# ---- versions come from the configured source only ---------------------------------------
@pytest.fixture
def origin(tmp_path: Path) -> Path:
    repo = tmp_path / "origin"
    repo.mkdir()
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "x"], ["tag", "v1"],
                 ["tag", "v2"], ["tag", "v10"], ["tag", "nightly"]):
        subprocess.run([*GIT, "-C", str(repo), *args], check=True, capture_output=True)
    return repo


def test_chat_picks_only_among_what_the_source_offers(tmp_path, origin):
    settings, _ = check_update({"update": {"url": str(origin), "root": str(tmp_path / "opt")}})
    releases = Releases(settings, None)
    assert releases.offered(None) == "v10"  # the newest, in version order
    assert releases.offered("v2") == "v2"
    for asked in ("v9", "nightly", "--upload-pack=touch /tmp/x", "../v1"):
        with pytest.raises(ReleaseError, match="offered: v1, v2, v10"):
            releases.offered(asked)


def test_credentials_in_a_url_never_reach_chat():
    from troupe_plugins.update.release import safe
    assert safe("fatal: could not read https://bot:ghp_s3cret@github.com/x.git") == (
        "fatal: could not read https://github.com/x.git")


# ---- reading a rollout's thread ----------------------------------------------------------
@pytest.fixture
def house(tmp_path):
    """Three Pis' real WebClients against the emulated workspace, each with the house's
    federation secret and its roster (its board posted, the others' read), the person's
    client, and a stranger app's (in the channel, without the secret)."""
    from slack_sdk import WebClient

    from troupe.federation import Roster, Seal, new_secret
    from troupe.sim.slack import SlackWorkspace

    secret = new_secret()
    with SlackWorkspace(apps=4, channel="home", rate_limits="off", latency_ms=0, port=0) as ws:
        pis = {}
        for app in ws.apps[:3]:
            web = WebClient(token=app["bot_token"], base_url=ws.api_url)
            seal = Seal(secret)
            roster = Roster(web, seal, app["name"], tmp_path / app["name"])
            roster.serve(ws.channel_id, app["bot_user_id"])
            pis[app["name"]] = SimpleNamespace(
                web=web, channel_id=ws.channel_id, name=app["name"], user=app["bot_user_id"],
                seal=seal, roster=roster, verified=roster.verified, pis=roster.pis)
        for pi in pis.values():
            pi.roster.start()
        for pi in pis.values():
            pi.roster.read_boards()
        person = WebClient(token=ws.user["token"], base_url=ws.api_url)
        stranger = WebClient(token=ws.apps[3]["bot_token"], base_url=ws.api_url)
        yield SimpleNamespace(ws=ws, pis=pis, person=person, stranger=stranger)


@pytest.mark.parametrize("freed_as", ["stopped answering while running",  # died
                                      "did not finish"])  # renewed its claim, then silent
def test_thread_is_read_from_bot_posts_only(house, freed_as):
    a, b, c = house.pis["pi-1"], house.pis["pi-2"], house.pis["pi-3"]
    command = house.ws.post("update to v2")
    thread.post(a, command, "Preparing v2", "plan", to="v2")
    thread.post(a, command, "pi-1 ready", "ready")
    thread.post(b, command, "pi-2 cannot use v2", "unready", why="broken")
    rollout = thread.post(a, command, "update rollout v2", "go")
    thread.post(a, command, "pi-1 now on v2 (took 3 s)", "done", command_ts=rollout, to="v2",
                seconds=3.2, **{"from": "v1"})
    thread.post(b, command, "pi-2: already on v2", "skipped", command_ts=rollout,
                why="already on v2")
    freed = f"<@{c.user}> {freed_as} `update rollout v2`."
    b.web.chat_postMessage(  # the core's report of a turn freed after the lease
        channel=b.channel_id, thread_ts=command, text=freed,
        metadata=b.seal.metadata("troupe_reply", freed, {"command_ts": rollout, "host": "pi-2"}))
    thread.post(b, command, "pi-2 now on v9", "done", command_ts="7.7", to="v9")  # another one
    house.person.chat_postMessage(  # a person cannot halt by typing, even with metadata
        channel=house.ws.channel_id, thread_ts=command, text="halt",
        metadata={"event_type": "troupe_reply",
                  "event_payload": {"command_ts": rollout, "update": "halt"}})
    for kind, fields in (("halt", {}), ("done", {"to": "v2"}), ("ready", {})):
        house.stranger.chat_postMessage(  # nor another app: it has no federation proof
            channel=house.ws.channel_id, thread_ts=command, text=f"pi-3 {kind}",
            metadata={"event_type": "troupe_reply", "event_payload": {
                "command_ts": rollout, "host": "pi-3", "update": kind, **fields}})

    view = thread.read(a, command, rollout)
    assert view.plan["to"] == "v2" and view.halt is None
    assert set(view.ready) == {a.user, b.user} and view.ready[b.user]["why"] == "broken"
    assert set(view.reports) == {a.user, b.user} and view.interrupted == {c.user}
    members = thread.pis(a)
    assert members == {a.user: "pi-1", b.user: "pi-2", c.user: "pi-3"}
    text = thread.summary(view, members, 31.4, "Rollout of v2")
    assert text == ("Rollout of v2 done in 31 s:\n• pi-1: v1 → v2 in 3 s\n"
                    "• pi-2: already on v2\n"
                    "• pi-3: stopped answering during its turn; not done (check it)")
    view.interrupted.clear()  # pi-3 has not had its turn yet: no summary
    assert thread.summary(view, members, 1, "Rollout of v2") is None


# ---- `version`: one answer from the boards -------------------------------------------------
def test_version_is_one_answer_a_line_per_pi():
    from troupe_plugins.update.versions import versions_answer

    text = versions_answer(
        "pi-2", {"release": "v2", "previous_release": "v1"}, ["pi-1", "pi-2", "pi-3", "pi-4"],
        {"pi-1": {"release": "v2", "previous_release": ""},
         "pi-3": {"version": "0.1.0"},  # no update plugin there: no release on its board
         "pi-5": {"release": "v1", "previous_release": ""}})  # a board of a Pi not known yet
    assert text == ("Versions: 5 Pis of this house, from their boards:\n"
                    "- pi-1: v2\n"
                    "- pi-2: v2; previous v1 (answering)\n"
                    "- pi-3: Troupe 0.1.0, no release on its board (no update plugin?)\n"
                    "- pi-4: no board found (known from its messages)\n"
                    "- pi-5: v1")


def test_a_board_slack_refuses_at_start_does_not_stop_the_pi(tmp_path, caplog):
    """After a switch the new process puts its release on its board; if Slack refuses the
    edit and the post, the Pi still starts (a crash there would fail the update)."""
    def refused(**fields: Any) -> None:
        raise OSError("connection refused")

    host = SimpleNamespace(name="pi-1", board=refused, config=None)
    (tmp_path / "opt").mkdir()
    plugin = Update(host, {"url": "/srv/troupe.git", "root": str(tmp_path / "opt")})
    plugin.start()
    assert "pi-1 could not put its release on its board: connection refused" in caplog.text


# ---- the watchdog --------------------------------------------------------------------------
def fake_root(path: Path, current: str, previous: str) -> ReleaseRoot:
    root = ReleaseRoot(path)
    for version in (current, previous):
        (root.release_dir(version)).mkdir(parents=True)
        (root.release_dir(version) / "RELEASE").write_text("{}")
    root.switch(previous)
    root.switch(current)
    return root


def test_watchdog_rolls_back_a_release_that_does_not_answer(tmp_path):
    root = fake_root(tmp_path / "opt", "v2", "v1")
    settings, _ = check_update({"update": {"url": "/x", "root": str(root.path)}})
    step = state.Step("update", "1.5", "1.0", "v2", "v1", switched_at=time.time())
    state.save(root.path, step)
    restarts: list[str] = []
    exits: list[int] = []
    dog = Watchdog(root.path, Releases(settings, None), 0.3, restarts.append, exits.append)
    dog.arm(step)
    assert dog.fired.wait(5)
    assert root.current_version() == "v1" and root.failed("v2")
    assert "did not come back and answer within 0 s" in state.load(root.path).reason
    assert restarts and "rolled back to v1" in restarts[0]
    # the new process that did answer: the watchdog leaves it alone
    root.switch("v2")
    state.save(root.path, state.Step("update", "1.6", "1.0", "v2", "v1", phase="reported"))
    dog.fire()
    assert root.current_version() == "v2" and len(restarts) == 1


def test_running_release_is_where_the_code_was_loaded_from(tmp_path, monkeypatch):
    site = tmp_path / "opt" / "releases" / "v2" / "venv" / "lib" / "troupe_plugins"
    monkeypatch.setattr(state, "_LOADED_FROM", site / "update" / "state.py")
    assert state.running_release(tmp_path / "opt") == "v2"
    assert state.running_release(tmp_path / "elsewhere") is None
    assert state.running_label(tmp_path / "elsewhere").endswith("(not a release)")
    # an update's summary says where a Pi came from: a release, or the installed version
    # ("0.1.0 → v0.2.0", not "0.1.0 (not a release) → v0.2.0")
    assert state.running_version(tmp_path / "opt") == "v2"
    assert state.running_version(tmp_path / "elsewhere") == troupe.__version__


# ---- the canary's vote ---------------------------------------------------------------------
def test_only_authorized_votes_count(house):
    plugin = SimpleNamespace(config={"auth": {"users": ["UBOSS"]}}, host=None)
    canary = Canary(plugin)
    reactions = [{"name": "+1", "users": ["UGUEST"]}, {"name": "-1", "users": ["UGUEST"]},
                 {"name": "thumbsup", "users": ["UBOSS"]}]
    assert canary.vote(reactions, UP) == "UBOSS"
    assert canary.vote(reactions, DOWN) is None
    # an open house: any person counts, a bot (another Pi, another app) does not
    pi = house.pis["pi-1"]
    open_house = SimpleNamespace(config={}, host=pi)
    person = house.ws.user["id"]
    assert Canary(open_house).vote([{"name": "-1", "users": [pi.user, person]}], DOWN) == person
    assert Canary(open_house).vote([{"name": "-1", "users": [pi.user]}], DOWN) is None


# ---- the service manager stand-in ----------------------------------------------------------
def script(root: ReleaseRoot, version: str, body: str) -> None:
    path = root.release_dir(version) / "venv" / "bin" / "troupe"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version} >> \"$RUNS\"\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def runs(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_supervisor_rolls_back_after_repeated_failed_starts(tmp_path):
    root = fake_root(tmp_path / "opt", "v2", "v1")
    script(root, "v1", "exec sleep 30")
    script(root, "v2", "exit 1")  # starts and dies: broken in a way the check did not see
    log = tmp_path / "runs"
    svc = Service("pi-1", root.path, ["run"], log_path=tmp_path / "log", restart_sec=0.05,
                  env={**os.environ, "RUNS": str(log)})
    svc.start()
    try:
        wait_for(lambda: runs(log) == ["v2", "v2", "v2", "v1"], 10, "the rollback")
        assert svc.exits == [1, 1, 1] and svc.rollbacks == ["v1"]
        assert root.current_version() == "v1" and root.failed("v2") and svc.running
    finally:
        assert svc.kill() == -9
    assert not svc.running and runs(log) == ["v2", "v2", "v2", "v1"]  # a power cut: no restart


def test_supervisor_restarts_on_75_as_a_fresh_start(tmp_path):
    root = fake_root(tmp_path / "opt", "v2", "v1")
    flag = tmp_path / "switched"
    script(root, "v2", f'[ -e {flag} ] && exec sleep 30\ntouch {flag}\nexit 75')
    log = tmp_path / "runs"
    svc = Service("pi-1", root.path, ["run"], log_path=tmp_path / "log", restart_sec=0.05,
                  start_limit_burst=1, env={**os.environ, "RUNS": str(log)})
    svc.start()
    try:
        # burst 1: without the reset on 75 the second start would be refused
        wait_for(lambda: len(runs(log)) == 2 and svc.running, 5, "the restart")
        assert svc.exits == [75] and svc.rollbacks == [] and root.current_version() == "v2"
    finally:
        assert svc.stop(5) == -15
    assert json.loads(json.dumps(svc.exits)) == [75, -15]


def switch_and_exit(root: ReleaseRoot, frm: str, to: str) -> None:
    """A release whose bot updates to `to`: both links move, then status 75."""
    path = root.path
    script(root, frm, f"ln -sfn releases/{frm} {path}/.p && mv -T {path}/.p {path}/previous\n"
                      f"ln -sfn releases/{to} {path}/.c && mv -T {path}/.c {path}/current\n"
                      "exit 75")


def test_supervisor_quick_updates_never_roll_back_but_failed_starts_do(tmp_path):
    """Three updates in a row are four starts in a minute: no start limit; a broken v4 is."""
    root = fake_root(tmp_path / "opt", "v1", "v0")
    for version in ("v2", "v3", "v4"):
        root.release_dir(version).mkdir(parents=True)
        (root.release_dir(version) / "RELEASE").write_text("{}")
    for frm, to in (("v1", "v2"), ("v2", "v3")):
        switch_and_exit(root, frm, to)
    script(root, "v4", "exit 1")  # v4 dies on start
    # v3 updates to v4; started again by the rollback (v4 FAILED) it just runs
    script(root, "v3", f'[ -e {root.release_dir("v4")}/FAILED ] && exec sleep 30\n'
                       f"ln -sfn releases/v3 {root.path}/.p && mv -T {root.path}/.p "
                       f"{root.path}/previous\nln -sfn releases/v4 {root.path}/.c && "
                       f"mv -T {root.path}/.c {root.path}/current\nexit 75")
    log = tmp_path / "runs"
    svc = Service("pi-1", root.path, ["run"], log_path=tmp_path / "log", restart_sec=0.05,
                  env={**os.environ, "RUNS": str(log)})  # StartLimitBurst=3 in 300 s
    svc.start()
    try:
        wait_for(lambda: runs(log) == ["v1", "v2", "v3", "v4", "v4", "v4", "v3"]
                 and svc.running, 15, "three updates, three failed starts, the rollback")
        assert svc.exits == [75, 75, 75, 1, 1, 1] and svc.rollbacks == ["v3"]
        assert root.current_version() == "v3" and root.failed("v4")
    finally:
        svc.stop(5)


def test_supervisor_stays_down_when_the_rollback_is_impossible(tmp_path):
    root = fake_root(tmp_path / "opt", "v2", "v1")
    (root.path / "previous").unlink()  # nothing to go back to
    script(root, "v2", "exit 1")
    log = tmp_path / "runs"
    svc = Service("pi-1", root.path, ["run"], log_path=tmp_path / "log", restart_sec=0.05,
                  env={**os.environ, "RUNS": str(log)})
    svc.start()
    wait_for(lambda: svc.failed, 10, "the start limit")
    assert runs(log) == ["v2", "v2", "v2"] and not svc.running and svc.rollbacks == []


def test_supervisor_runs_a_relative_root_from_another_directory(tmp_path, monkeypatch):
    root = fake_root(tmp_path / "opt", "v2", "v1")
    script(root, "v2", "exec sleep 30")
    log = tmp_path / "runs"
    monkeypatch.chdir(tmp_path)
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    svc = Service("pi-1", "opt", ["run"], log_path=tmp_path / "log", cwd=elsewhere,
                  env={**os.environ, "RUNS": str(log)})
    svc.start()
    try:
        wait_for(lambda: runs(log) == ["v2"] and svc.running, 5, "the start")
    finally:
        svc.stop(5)
