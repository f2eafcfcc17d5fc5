"""What can be checked of deploy/ without systemd or a Raspberry Pi."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from troupe.releases import ReleaseRoot

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ROLLBACK = DEPLOY / "troupe-rollback.sh"
STOP_POST = DEPLOY / "troupe-stop-post.sh"
INSTALL = DEPLOY / "install.sh"


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """systemd unit syntax: sections, keys that may repeat, # comments."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        assert current is not None and _, f"bad line in {path.name}: {line}"
        current.setdefault(key, []).append(value)
    return sections


def parse_yaml_subset(text: str):
    """Block maps and lists of scalars: enough to read the Slack manifest."""
    lines = [(len(raw) - len(raw.lstrip()), raw.strip()) for raw in text.splitlines()
             if raw.strip() and not raw.strip().startswith("#")]

    def scalar(s: str):
        s = s.strip()
        if s in ("true", "false"):
            return s == "true"
        return s[1:-1] if s[:1] in "'\"" and s[-1:] == s[:1] else s

    def block(i: int, indent: int):
        if lines[i][1].startswith("- "):
            out = []
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                out.append(scalar(lines[i][1][2:]))
                i += 1
            return out, i
        out = {}
        while i < len(lines) and lines[i][0] == indent:
            key, _, rest = lines[i][1].partition(":")
            i += 1
            if rest.strip():
                out[key] = scalar(rest)
            else:
                out[key], i = block(i, lines[i][0])
        return out, i

    data, end = block(0, 0)
    assert end == len(lines), f"unparsed manifest line: {lines[end]}"
    return data


def test_scripts_parse():
    subprocess.run(["bash", "-n", str(INSTALL)], check=True)
    subprocess.run(["sh", "-n", str(ROLLBACK)], check=True)
    subprocess.run(["sh", "-n", str(STOP_POST)], check=True)
    assert all(os.access(p, os.X_OK) for p in (ROLLBACK, INSTALL, STOP_POST))
    assert "set -euo pipefail" in INSTALL.read_text()


def test_service_unit():
    unit = parse_unit(DEPLOY / "troupe.service")
    svc, head = unit["Service"], unit["Unit"]
    assert svc["ExecStart"] == [
        "/opt/troupe/current/venv/bin/troupe run --config /etc/troupe/troupe.toml"]
    assert svc["Restart"] == ["on-failure"]
    assert svc["EnvironmentFile"] == ["/etc/troupe/env"]
    assert svc["User"] == ["troupe"]
    assert int(head["StartLimitBurst"][0]) >= 2
    assert int(head["StartLimitIntervalSec"][0]) > int(svc["RestartSec"][0]) * 3
    assert head["OnFailure"] == ["troupe-rollback.service"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_service_unit_restarts_it_asks_for_do_not_use_up_the_start_limit():
    """Status 75 restarts, is no failure, and flushes the start-rate counter on the way."""
    svc = parse_unit(DEPLOY / "troupe.service")["Service"]
    assert svc["RestartForceExitStatus"] == ["75"]
    assert "75" in " ".join(svc["SuccessExitStatus"]).split()
    assert svc["RestartMode"] == ["direct"]  # OnFailure= only at the start limit (systemd >= 254)
    assert svc["ExecStopPost"] == ["+/usr/local/lib/troupe/troupe-stop-post troupe.service"]


def stop_post(tmp_path: Path, **exit_env: str) -> list[str]:
    """Run troupe-stop-post as ExecStopPost= would, with a systemctl that only logs."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "systemctl"
    fake.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\n')
    fake.chmod(0o755)
    calls.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("EXIT_CODE", "EXIT_STATUS")}
    env.update(exit_env, PATH=f"{bin_dir}:{env['PATH']}")
    proc = subprocess.run(["sh", str(STOP_POST), "troupe.service"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return calls.read_text().splitlines() if calls.exists() else []


def test_stop_post_resets_the_start_limit_only_after_status_75(tmp_path):
    assert stop_post(tmp_path, EXIT_CODE="exited", EXIT_STATUS="75") == [
        "reset-failed troupe.service"]
    assert stop_post(tmp_path, EXIT_CODE="exited", EXIT_STATUS="1") == []  # a failed start
    assert stop_post(tmp_path, EXIT_CODE="exited", EXIT_STATUS="0") == []
    assert stop_post(tmp_path, EXIT_CODE="killed", EXIT_STATUS="TERM") == []
    assert stop_post(tmp_path, EXIT_CODE="dumped", EXIT_STATUS="75") == []
    assert stop_post(tmp_path) == []  # systemctl stop before the process ran


def test_rollback_unit_uses_the_shell_script_not_a_release():
    svc = parse_unit(DEPLOY / "troupe-rollback.service")["Service"]
    assert svc["Type"] == ["oneshot"]
    assert svc["ExecStart"] == ["/usr/local/lib/troupe/troupe-rollback /opt/troupe"]
    post = svc["ExecStartPost"]
    assert any("reset-failed troupe.service" in p for p in post)
    assert any(p.endswith("start troupe.service") for p in post)


def security_exposure(unit: Path) -> float:
    """The overall exposure `systemd-analyze security --offline=yes` gives a unit file."""
    proc = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                           str(unit)], capture_output=True, text=True, timeout=60)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert found, proc.stdout + proc.stderr
    return float(found.group(1))


@pytest.mark.skipif(not shutil.which("systemd-analyze"),
                    reason="systemd-analyze is not installed (apt-get install systemd)")
@pytest.mark.parametrize("name", ["troupe.service", "troupe-rollback.service"])
def test_units_are_sandboxed(name):
    """Both units rate at most 4.0 ("OK"); before the hardening 8.6 and 9.2."""
    assert security_exposure(DEPLOY / name) <= 4.0


def test_sandbox_keeps_what_each_unit_needs():
    svc = parse_unit(DEPLOY / "troupe.service")["Service"]
    assert svc["ProtectSystem"] == ["strict"]
    # self-update builds releases and moves links under the root; state and cache are
    # systemd's own directories (writable under ProtectSystem=strict)
    assert svc["ReadWritePaths"] == ["/opt/troupe"]
    assert svc["StateDirectory"] == ["troupe"] and svc["Environment"].count(
        "HOME=/var/lib/troupe") == 1
    # GPIO: the gpio group and its devices, no PrivateDevices= hiding /dev
    assert svc["SupplementaryGroups"] == ["gpio"]
    assert "PrivateDevices" not in svc and "PrivateUsers" not in svc  # both hide GPIO
    assert {"/dev/gpiomem rw", "char-gpiochip rw"} <= set(svc["DeviceAllow"])
    assert svc["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert svc["CapabilityBoundingSet"] == [""] and svc["NoNewPrivileges"] == ["yes"]
    assert svc["UMask"] in (["0027"], ["0077"])
    # the root's restart-limit reset still runs outside the sandbox
    assert svc["ExecStopPost"][0].startswith("+")

    rollback = parse_unit(DEPLOY / "troupe-rollback.service")["Service"]
    root = rollback["ExecStart"][0].split()[-1]
    assert rollback["ProtectSystem"] == ["strict"] and rollback["ReadWritePaths"] == [root]
    assert all(p.startswith("+") for p in rollback["ExecStartPost"])


def test_manifest():
    manifest = parse_yaml_subset((DEPLOY / "slack-app-manifest.yaml").read_text())
    try:
        import yaml
    except ImportError:
        pass
    else:
        assert yaml.safe_load((DEPLOY / "slack-app-manifest.yaml").read_text()) == manifest
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert set(manifest["oauth_config"]["scopes"]["bot"]) >= {
        "channels:history", "groups:history", "channels:read", "groups:read", "chat:write",
        "pins:read", "pins:write", "reactions:read", "reactions:write", "users:read"}
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {
        "message.channels", "message.groups", "pin_added", "pin_removed",
        "reaction_added", "reaction_removed", "app_home_opened"}
    # Buttons and the Home tab (issue 15): interactivity over Socket Mode needs no URL, and
    # neither they nor views.publish need a scope: the scopes stay exactly these.
    assert manifest["settings"]["interactivity"] == {"is_enabled": True}
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is False
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
        "channels:history", "groups:history", "channels:read", "groups:read", "chat:write",
        "pins:read", "pins:write", "reactions:read", "reactions:write", "users:read"}
    assert len(manifest["display_information"]["name"]) <= 35


def fake_release_root(tmp_path: Path, *versions: str) -> ReleaseRoot:
    """A release root with complete (marker-only) releases: enough for link moves."""
    root = ReleaseRoot(tmp_path / "opt")
    for v in versions:
        d = root.releases / v
        d.mkdir(parents=True)
        (d / "RELEASE").write_text("{}\n")
    return root


def rollback_sh(root: ReleaseRoot) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(ROLLBACK), str(root.path)], capture_output=True, text=True)


def test_rollback_script_swaps_links(tmp_path):
    root = fake_release_root(tmp_path, "v1", "v2")
    root.switch("v1")
    root.switch("v2")
    proc = rollback_sh(root)
    assert proc.returncode == 0, proc.stderr
    assert (root.current_version(), root.previous_version()) == ("v1", "v2")
    assert os.readlink(root.path / "current") == os.path.join("releases", "v1")
    assert root.failed("v2") and not root.failed("v1")
    assert not [p for p in root.path.iterdir() if p.name.startswith(".")]  # no temp links left

    # a second failure must not flip back to the release that failed
    proc = rollback_sh(root)
    assert proc.returncode == 1 and "marked failed" in proc.stderr
    assert (root.current_version(), root.previous_version()) == ("v1", "v2")

    # switching to it again on purpose clears the mark
    root.switch("v2")
    assert not root.failed("v2")


def test_rollback_script_matches_python_rollback(tmp_path):
    a = fake_release_root(tmp_path / "a", "v1", "v2")
    b = fake_release_root(tmp_path / "b", "v1", "v2")
    for r in (a, b):
        r.switch("v1")
        r.switch("v2")
    assert rollback_sh(a).returncode == 0
    b.rollback()
    for name in ("current", "previous"):
        assert os.readlink(a.path / name) == os.readlink(b.path / name)
    assert a.failed("v2") == b.failed("v2")


def test_rollback_script_without_previous(tmp_path):
    root = fake_release_root(tmp_path, "v1")
    root.switch("v1")
    proc = rollback_sh(root)
    assert proc.returncode == 1 and "no previous release" in proc.stderr
    assert root.current_version() == "v1"


def install_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "TROUPE_USER": subprocess.run(["id", "-un"], capture_output=True,
                                      text=True).stdout.strip(),
        "TROUPE_ROOT": str(tmp_path / "opt"),
        "TROUPE_ETC": str(tmp_path / "etc"),
        "TROUPE_UNIT_DIR": str(tmp_path / "units"),
        "TROUPE_LIB": str(tmp_path / "lib"),
        "TROUPE_HOME": str(tmp_path / "home"),
        "TROUPE_URL": "https://example.invalid/troupe.git",
        "TROUPE_NO_SYSTEMCTL": "1",
    })
    env.update(extra)
    for key in ("TROUPE_ROOT", "TROUPE_ETC", "TROUPE_UNIT_DIR", "TROUPE_LIB"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    return env


def run_install_functions(env: dict[str, str], *functions: str) -> subprocess.CompletedProcess:
    script = f'source "{INSTALL}"; ' + "; ".join(functions)
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)


needs_chown = pytest.mark.skipif(os.geteuid() != 0, reason="install.sh functions chown files")


@needs_chown
def test_install_writes_config_once(tmp_path):
    env = install_env(tmp_path, TROUPE_OWNER="U0OWNER1")
    proc = run_install_functions(env, "pick_owner", "write_config")
    assert proc.returncode == 0, proc.stderr
    etc = Path(env["TROUPE_ETC"])
    config = tomllib.loads((etc / "troupe.toml").read_text())
    assert config["slack"]["channel"] == "home"
    assert config["host"]["name"]
    assert config["auth"] == {"users": ["U0OWNER1"]}  # admins: a commented hint
    assert '# admins = ["U0OWNER1"]' in (etc / "troupe.toml").read_text()
    assert config["update"] == {"root": env["TROUPE_ROOT"], "source": "git",
                                "url": env["TROUPE_URL"], "ref_pattern": "v*"}
    assert stat.S_IMODE((etc / "env").stat().st_mode) == 0o600
    assert stat.S_IMODE((etc / "troupe.toml").stat().st_mode) == 0o640
    assert "TROUPE_SLACK_BOT_TOKEN=" in (etc / "env").read_text()

    (etc / "troupe.toml").write_text("# edited by the operator\n")
    (etc / "env").write_text("TROUPE_SLACK_BOT_TOKEN=xoxb-real\n")
    assert run_install_functions(env, "write_config").returncode == 0
    assert (etc / "troupe.toml").read_text() == "# edited by the operator\n"
    assert (etc / "env").read_text() == "TROUPE_SLACK_BOT_TOKEN=xoxb-real\n"


@needs_chown
def test_install_gives_the_pi_the_houses_federation_secret(tmp_path):
    """The first Pi gets a fresh secret (not printed: the log says where it is); the others
    are given it (--federation-secret or TROUPE_FEDERATION_SECRET); an older env file gets
    it added only when it is given: a secret made up here would split the house."""
    env = install_env(tmp_path, TROUPE_OWNER="U0OWNER1")
    proc = run_install_functions(env, "pick_owner", "write_config")
    assert proc.returncode == 0, proc.stderr
    etc = Path(env["TROUPE_ETC"])
    lines = dict(line.split("=", 1) for line in (etc / "env").read_text().splitlines()
                 if line and not line.startswith("#"))
    made = lines["TROUPE_FEDERATION_SECRET"]
    assert len(made) >= 40 and made not in proc.stdout + proc.stderr
    assert "give every other Pi of this house the same one" in proc.stdout
    assert stat.S_IMODE((etc / "env").stat().st_mode) == 0o600

    shared = "a-secret-every-pi-of-the-house-shares"
    (etc / "env").unlink()
    proc = run_install_functions(env, f"parse_args --federation-secret {shared}",
                                 "write_config")
    assert proc.returncode == 0, proc.stderr
    assert f"TROUPE_FEDERATION_SECRET={shared}\n" in (etc / "env").read_text()

    (etc / "env").write_text("TROUPE_SLACK_BOT_TOKEN=xoxb-real\n")  # from before the secret
    proc = run_install_functions(env, "write_config")
    assert "has no TROUPE_FEDERATION_SECRET" in proc.stdout
    assert (etc / "env").read_text() == "TROUPE_SLACK_BOT_TOKEN=xoxb-real\n"
    proc = run_install_functions({**env, "TROUPE_FEDERATION_SECRET": shared}, "write_config")
    assert proc.returncode == 0, proc.stderr
    assert (etc / "env").read_text() == (f"TROUPE_SLACK_BOT_TOKEN=xoxb-real\n"
                                         f"TROUPE_FEDERATION_SECRET={shared}\n")
    assert stat.S_IMODE((etc / "env").stat().st_mode) == 0o600

    proc = run_install_functions(env, "parse_args --federation-secret 'short one'")
    assert proc.returncode == 1 and "at least 16 letters" in proc.stderr


@needs_chown
def test_install_units_and_rollback_script(tmp_path):
    env = install_env(tmp_path, TROUPE_VERSION="v1")
    proc = run_install_functions(env, "install_units", "install_units")
    assert proc.returncode == 0, proc.stderr
    unit = parse_unit(Path(env["TROUPE_UNIT_DIR"]) / "troupe.service")
    root, etc = env["TROUPE_ROOT"], env["TROUPE_ETC"]
    assert unit["Service"]["ExecStart"] == [
        f"{root}/current/venv/bin/troupe run --config {etc}/troupe.toml"]
    assert unit["Service"]["User"] == [env["TROUPE_USER"]]
    rollback = parse_unit(Path(env["TROUPE_UNIT_DIR"]) / "troupe-rollback.service")
    installed = Path(env["TROUPE_LIB"]) / "troupe-rollback"
    assert rollback["Service"]["ExecStart"] == [f"{installed} {env['TROUPE_ROOT']}"]
    assert os.access(installed, os.X_OK)
    assert installed.read_text() == ROLLBACK.read_text()
    stop_post_bin = Path(env["TROUPE_LIB"]) / "troupe-stop-post"
    assert unit["Service"]["ExecStopPost"] == [f"+{stop_post_bin} troupe.service"]
    assert os.access(stop_post_bin, os.X_OK) and stop_post_bin.read_text() == STOP_POST.read_text()


@needs_chown
@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="needs systemd-analyze")
def test_installed_units_pass_systemd_analyze_verify(tmp_path):
    env = install_env(tmp_path, TROUPE_VERSION="v1")
    assert run_install_functions(env, "install_units").returncode == 0
    troupe = Path(env["TROUPE_ROOT"]) / "current" / "venv" / "bin" / "troupe"
    troupe.parent.mkdir(parents=True)
    troupe.write_text("#!/bin/sh\n")
    troupe.chmod(0o755)
    units = Path(env["TROUPE_UNIT_DIR"])
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no",
                           str(units / "troupe.service"), str(units / "troupe-rollback.service")],
                          capture_output=True, text=True, timeout=60)
    problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                if "Unknown key 'RestartMode'" not in line  # systemd < 254 ignores it
                and "-.slice" not in line and "network-online.target" not in line
                and "time-sync.target" not in line]
    assert proc.returncode == 0 and not problems, proc.stdout + proc.stderr


@needs_chown
def test_install_picks_newest_tag_and_links_current_once(tmp_path):
    repo = tmp_path / "origin"
    repo.mkdir()
    g = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*g, "init", "-q"], check=True)
    subprocess.run([*g, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    for tag in ("v1", "v2", "v10", "nightly"):
        subprocess.run([*g, "tag", tag], check=True)
    env = install_env(tmp_path, TROUPE_URL=str(repo))
    proc = run_install_functions(env, "pick_version", 'echo "picked=$TROUPE_VERSION"',
                                 "point_current", "TROUPE_VERSION=v2", "point_current")
    assert proc.returncode == 0, proc.stderr
    assert "picked=v10" in proc.stdout
    assert os.readlink(Path(env["TROUPE_ROOT"]) / "current") == "releases/v10"

    bad = run_install_functions({**env, "TROUPE_VERSION": "--upload-pack=x"}, "pick_version")
    assert bad.returncode != 0 and "not a valid version" in bad.stderr


BACKEND = '''
"""A PEP 517 backend in a few lines, so the test installs with no network and no wheel."""
import base64, hashlib, os, zipfile

VERSION = "{number}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    dist = f"troupe-{{VERSION}}.dist-info"
    files = {{
        "troupe/__init__.py": open("src/troupe/__init__.py").read(),
        f"{{dist}}/METADATA": f"Metadata-Version: 2.1\\nName: troupe\\nVersion: {{VERSION}}\\n",
        f"{{dist}}/WHEEL": "Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
        f"{{dist}}/entry_points.txt": "[console_scripts]\\ntroupe = troupe:main\\n",
    }}
    name = f"troupe-{{VERSION}}-py3-none-any.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        for path, text in files.items():
            data = text.encode()
            z.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{{path}},sha256={{digest.decode()}},{{len(data)}}")
        record.append(f"{{dist}}/RECORD,,")
        z.writestr(f"{{dist}}/RECORD", "\\n".join(record) + "\\n")
    return name
'''


@needs_chown
@pytest.mark.timeout(300)
def test_install_sh_end_to_end(tmp_path):
    """Run install.sh twice against a local repository of a stub project."""
    import sys

    repo = tmp_path / "origin"
    (repo / "src" / "troupe").mkdir(parents=True)
    g = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*g, "init", "-q"], check=True)
    (repo / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n')
    for number in ("1", "2", "evil"):
        if number == "evil":  # a branch named like the newest tag: never what is built
            subprocess.run([*g, "checkout", "-q", "-b", "v2"], check=True)
        (repo / "backend.py").write_text(BACKEND.format(number=number))
        (repo / "src" / "troupe" / "__init__.py").write_text(
            f"def main():\n    print('troupe v{number}')\n")
        subprocess.run([*g, "add", "-A"], check=True)
        subprocess.run([*g, "commit", "-q", "-m", number], check=True)
        if number != "evil":
            subprocess.run([*g, "tag", f"v{number}"], check=True)

    env = install_env(tmp_path, TROUPE_URL=str(repo), TROUPE_SKIP_APT="1", TROUPE_GROUPS="",
                      TROUPE_PYTHON=getattr(sys, "_base_executable", sys.executable),
                      TROUPE_PIP_ARGS="--no-index --no-deps --no-build-isolation")
    for args in (["--owner", "U0OWNER1"], []):  # the second run keeps the configuration
        proc = subprocess.run(["bash", str(INSTALL), *args], env=env, capture_output=True,
                              text=True, cwd=tmp_path, stdin=subprocess.DEVNULL)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "release v2 is already built" in proc.stdout

    root = ReleaseRoot(env["TROUPE_ROOT"])
    assert root.versions() == ["v2"] and root.current_version() == "v2"
    out = subprocess.run([str(Path(env["TROUPE_ROOT"]) / "current" / "venv" / "bin" / "troupe")],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "troupe v2"
    config = tomllib.loads((Path(env["TROUPE_ETC"]) / "troupe.toml").read_text())
    assert config["auth"]["users"] == ["U0OWNER1"]
    assert (Path(env["TROUPE_UNIT_DIR"]) / "troupe.service").exists()


def run_install(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALL), *args], env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120)


@needs_chown
def test_install_asks_whose_house_it_is(tmp_path):
    """No owner, no terminal: stopped before anything is built; the open house is a choice."""
    env = install_env(tmp_path, TROUPE_SKIP_APT="1", TROUPE_GROUPS="")
    proc = run_install(env)
    assert proc.returncode == 1
    assert "whose house is it? Give the owner's Slack user ID with --owner" in proc.stderr
    assert not (Path(env["TROUPE_ROOT"]) / "releases").exists()
    proc = run_install(env, "--owner", "alice")
    assert proc.returncode == 1 and "not a Slack user ID: alice" in proc.stderr
    proc = run_install(env, "--owner", "U0OWNER1", "--open-house")
    assert proc.returncode == 1 and "choose one" in proc.stderr
    proc = run_install(env, "--bogus")
    assert proc.returncode == 1 and "unknown option: --bogus" in proc.stderr

    open_house = run_install_functions({**env, "TROUPE_OPEN_HOUSE": "1"},
                                       "pick_owner", "write_config")
    assert open_house.returncode == 0, open_house.stderr
    assert "open house" in open_house.stdout
    config = tomllib.loads((Path(env["TROUPE_ETC"]) / "troupe.toml").read_text())
    assert config["auth"]["users"] == []


@needs_chown
def test_install_never_follows_a_link_planted_in_the_release_root(tmp_path):
    """The troupe user owns the release root; root must not act through links it plants."""
    victim = tmp_path / "victim"  # stands for /etc or any directory only root may touch
    victim.mkdir(mode=0o700)
    (victim / "RELEASE").write_text("{}\n")
    env = install_env(tmp_path, TROUPE_VERSION="v2", TROUPE_OWNER="U0OWNER1")
    root = Path(env["TROUPE_ROOT"])

    (root / "releases").symlink_to(victim)
    proc = run_install_functions(env, "make_dirs")
    assert proc.returncode == 1 and "releases is a symbolic link" in proc.stderr
    assert "refusing to follow it as root" in proc.stderr
    assert stat.S_IMODE(victim.stat().st_mode) == 0o700  # not chmod-ed through the link

    (root / "releases").unlink()
    (root / "releases").mkdir()
    (root / "releases" / "v2").symlink_to(victim)  # a fake "built" release
    proc = run_install_functions(env, "build_release")
    assert proc.returncode == 1 and "releases/v2 is a symbolic link" in proc.stderr
    assert sorted(p.name for p in victim.iterdir()) == ["RELEASE"]
    assert not (root / "current").exists()


# ---- GPIO: the pin library and the unit's device access (issue 16) ----------------------


def fake_apt(tmp_path: Path, archive_has_lgpio: bool) -> tuple[dict[str, str], Path]:
    """dpkg (nothing installed), apt-cache and apt-get that only log: the archive is faked."""
    bin_dir, calls = tmp_path / "apt-bin", tmp_path / "apt-calls"
    bin_dir.mkdir()
    candidate = "0.2.2-1~rpt1" if archive_has_lgpio else "(none)"
    scripts = {
        "dpkg": "exit 1",
        "apt-cache": f'echo "$2:"; echo "  Installed: (none)"; echo "  Candidate: {candidate}"',
        "apt-get": f'echo "apt-get $*" >> "{calls}"',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}, calls


@pytest.mark.parametrize("archive_has_lgpio", [True, False])
def test_install_gets_the_pin_library_where_the_archive_has_it(tmp_path, archive_has_lgpio):
    extra, calls = fake_apt(tmp_path, archive_has_lgpio)
    proc = run_install_functions({**install_env(tmp_path), **extra}, "install_packages")
    assert proc.returncode == 0, proc.stderr
    installs = [c for c in calls.read_text().splitlines() if " install " in c]
    assert len(installs) == 1
    assert installs[0].split()[-3:] == (["python3-venv", "git", "python3-lgpio"]
                                        if archive_has_lgpio else ["-q", "python3-venv", "git"])
    assert ("no python3-lgpio" in proc.stdout) != archive_has_lgpio


@needs_chown
@pytest.mark.timeout(300)
def test_install_builds_a_venv_that_sees_the_system_pin_library(tmp_path):
    """The venv and pip command lines as install.sh runs them (bash -x), and the venv made."""
    import sys

    repo = tmp_path / "origin"
    (repo / "src" / "troupe").mkdir(parents=True)
    g = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*g, "init", "-q"], check=True)
    (repo / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n')
    (repo / "backend.py").write_text(BACKEND.format(number="1"))
    (repo / "src" / "troupe" / "__init__.py").write_text("def main():\n    print('v1')\n")
    subprocess.run([*g, "add", "-A"], check=True)
    subprocess.run([*g, "commit", "-q", "-m", "1"], check=True)
    subprocess.run([*g, "tag", "v1"], check=True)
    env = install_env(tmp_path, TROUPE_URL=str(repo), TROUPE_VERSION="v1",
                      TROUPE_PYTHON=getattr(sys, "_base_executable", sys.executable),
                      TROUPE_PIP_ARGS="--no-index --no-deps --no-build-isolation")
    proc = run_install_functions(env, "set -x", "build_release")
    assert proc.returncode == 0, proc.stderr
    trace = [line.lstrip("+ ") for line in proc.stderr.splitlines()]
    venv = Path(env["TROUPE_ROOT"]) / "releases" / "v1" / "venv"
    assert f"{env['TROUPE_PYTHON']} -m venv --system-site-packages {venv}" in trace
    pip = [line for line in trace  # as_user's "$@": the command itself
           if line.startswith("env ") and f" {venv}/bin/python -m pip install " in line]
    assert len(pip) == 1 and "--ignore-installed" in pip[0].split(), trace
    assert "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text()


def test_service_unit_lets_the_troupe_user_reach_the_gpio_devices():
    svc = parse_unit(DEPLOY / "troupe.service")["Service"]
    assert "gpio" in " ".join(svc["SupplementaryGroups"]).split()
    allowed = {line.split()[0]: line.split()[1] for line in svc["DeviceAllow"]}
    assert allowed["/dev/gpiomem"] == "rw"  # Pi 1-4: the GPIO registers (native, RPi.GPIO)
    assert allowed["char-gpiochip"] == "rw"  # every Pi: /dev/gpiochip* (lgpio)
    assert "yes" not in svc.get("PrivateDevices", [])  # it would hide /dev/gpio*
    # lgpio makes its notification pipe in LG_WD (else the working directory)
    assert "LG_WD=/run/troupe" in svc["Environment"] and svc["RuntimeDirectory"] == ["troupe"]


@needs_chown
def test_installed_unit_keeps_the_gpio_group_only_where_it_exists(tmp_path):
    env = install_env(tmp_path, TROUPE_VERSION="v1")
    assert run_install_functions(env, "install_units").returncode == 0
    unit = parse_unit(Path(env["TROUPE_UNIT_DIR"]) / "troupe.service")["Service"]
    has_gpio = subprocess.run(["getent", "group", "gpio"], capture_output=True).returncode == 0
    assert ("SupplementaryGroups" in unit) == has_gpio  # systemd refuses an unknown group
    assert "char-gpiochip rw" in unit["DeviceAllow"]
