"""troupe.releases against a local git repository of a tiny stub project (no network)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from troupe import releases
from troupe.release_cli import release_main
from troupe.releases import (
    BUILD_NICENESS,
    GitSource,
    IndexSource,
    ReleaseError,
    ReleaseRoot,
    upgrade,
    validate_version,
    version_key,
)

STUB = '''
import os
import sys

def main():
    args = sys.argv[1:]
    if args[:1] == ["version"]:
        print("{version}")
    elif args[:1] == ["check"]:
        print("checked {version} with", args[2], "at niceness", os.nice(0))
        print("bot token seen:", os.environ.get("TROUPE_SLACK_BOT_TOKEN"))
        sys.exit({check_rc})
'''


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def gitenv(tmp_path, monkeypatch):
    """A private git config: identity, and ssh signing trusted by one key."""
    key = tmp_path / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "t@example.org",
                    "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"t@example.org {(tmp_path / 'signing_key.pub').read_text()}")
    cfg = tmp_path / "gitconfig"
    cfg.write_text(textwrap.dedent(f"""\
        [user]
            name = Test
            email = t@example.org
            signingkey = {key}
        [gpg]
            format = ssh
        [gpg "ssh"]
            allowedSignersFile = {allowed}
        [init]
            defaultBranch = main
        """))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return cfg


def commit_version(repo: Path, version: str, check_rc: int = 0) -> None:
    pkg = repo / "src" / "troupe"
    pkg.mkdir(parents=True, exist_ok=True)
    (repo / "pyproject.toml").write_text(textwrap.dedent(f"""\
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "troupe"
        version = "{version.lstrip('v')}"
        [project.scripts]
        troupe = "troupe:main"
        """))
    (pkg / "__init__.py").write_text(STUB.format(version=version, check_rc=check_rc))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"release {version}")


@pytest.fixture
def origin(tmp_path, gitenv) -> Path:
    """Tags v1, v2 (check fails in v3), v10 and a tag outside the pattern."""
    repo = tmp_path / "origin"
    repo.mkdir()
    git(repo, "init", "-q")
    for version, rc in (("v1", 0), ("v2", 0), ("v3", 1), ("v10", 0)):
        commit_version(repo, version, rc)
        git(repo, "tag", "-a", "-m", version, version)
    git(repo, "tag", "nightly")
    return repo


@pytest.fixture
def root(tmp_path, origin) -> ReleaseRoot:
    return ReleaseRoot(tmp_path / "opt", GitSource(str(origin)), reuse_site_packages=True)


def run_bin(path: Path, *args: str) -> str:
    return subprocess.run([str(path), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_version_validation_rejects_options_and_paths():
    for bad in ["--upload-pack=touch /tmp/x", "-v1", "v1/../../etc", "", "v1 v2", "../v1",
                "v1;rm", "a" * 65, ".hidden"]:
        with pytest.raises(ReleaseError):
            validate_version(bad)
    assert validate_version("v1.2.3-rc1+pi") == "v1.2.3-rc1+pi"


def test_natural_version_order():
    assert sorted(["v10", "v2", "v1", "v1.10", "v1.9"], key=version_key) == [
        "v1", "v1.9", "v1.10", "v2", "v10"]


def test_git_source_lists_tags_in_version_order(origin):
    source = GitSource(str(origin))
    assert source.versions() == ["v1", "v2", "v3", "v10"]
    assert source.latest() == "v10"
    assert GitSource(str(origin), ref_pattern="nightly").versions() == ["nightly"]


def test_unoffered_and_hostile_versions_never_reach_git(root, tmp_path):
    with pytest.raises(ReleaseError, match=r"v4 is not offered .*offered: v1, v2, v3, v10"):
        root.build("v4")
    with pytest.raises(ReleaseError, match="not a valid version"):
        root.build(f"--upload-pack=touch {tmp_path / 'pwned'}")
    with pytest.raises(ReleaseError, match="not a valid version"):
        root.source.fetch("--upload-pack=x", tmp_path)
    assert not (tmp_path / "pwned").exists()
    assert root.versions() == []


def test_build_switch_rollback_prune(root):
    path = root.build("v1")
    assert path == root.path / "releases" / "v1"
    assert run_bin(root.troupe_bin("v1"), "version") == "v1"
    assert root.current_version() is None
    root.switch("v1")
    assert root.current_version() == "v1" and root.previous_version() is None
    assert run_bin(root.path / "current" / "venv" / "bin" / "troupe", "version") == "v1"

    root.build("v2")
    assert root.current_version() == "v1"  # building never touches what runs
    root.switch("v2")
    assert (root.current_version(), root.previous_version()) == ("v2", "v1")
    assert os.readlink(root.path / "current") == os.path.join("releases", "v2")
    assert run_bin(root.path / "current" / "venv" / "bin" / "troupe", "version") == "v2"

    assert root.rollback() == "v1"
    assert (root.current_version(), root.previous_version()) == ("v1", "v2")
    assert root.failed("v2")
    with pytest.raises(ReleaseError, match="marked failed"):
        root.rollback()  # no flip-flopping back to the release that failed

    root.build("v10")
    root.switch("v10")  # v1 -> previous, v2 is neither
    assert (root.current_version(), root.previous_version()) == ("v10", "v1")
    assert root.versions() == ["v1", "v2", "v10"]
    assert root.prune(keep=0) == ["v2"]
    assert root.versions() == ["v1", "v10"]


def test_switch_refuses_unbuilt_version(root):
    with pytest.raises(ReleaseError, match="not built"):
        root.switch("v2")
    assert not (root.path / "current").exists()


def test_interrupted_build_is_not_a_release(root):
    half = root.path / "releases" / "v2"
    (half / "venv").mkdir(parents=True)
    assert root.versions() == []
    with pytest.raises(ReleaseError):
        root.switch("v2")
    root.build("v2")  # starts over
    assert root.versions() == ["v2"]


def test_health_check_and_upgrade(root, tmp_path):
    config = tmp_path / "troupe.toml"
    config.write_text("[slack]\nchannel = 'home'\n")
    root.build("v1")
    root.switch("v1")
    ok, out = root.health_check("v1", config)
    assert ok and f"checked v1 with {config}" in out
    # at low priority: the bot beside it keeps the CPU (a Pi Zero has one core)
    assert f"at niceness {min(19, os.nice(0) + BUILD_NICENESS)}" in out

    with pytest.raises(ReleaseError, match="health check of v3 failed"):
        upgrade(root, "v3", config)
    assert root.current_version() == "v1"  # a failed check never switches

    ok, out = root.health_check("v1", config, imports=["troupe", "no_such_plugin_module"])
    assert not ok and "no_such_plugin_module" in out

    upgrade(root, "v2", config)
    assert (root.current_version(), root.previous_version()) == ("v2", "v1")


def test_require_signed_tags(origin, root, tmp_path):
    signed = GitSource(str(origin), require_signed=True)
    with pytest.raises(ReleaseError, match="not signed"):
        signed.fetch("v2", tmp_path / "work")
    commit_version(origin, "v11")
    git(origin, "tag", "-s", "-m", "v11", "v11")
    assert signed.fetch("v11", tmp_path / "work") == [str(tmp_path / "work" / "src")]


def plant_branch(repo: Path, name: str) -> None:
    """A branch called like a tag, holding other code ("evil"), pushed by someone with
    write access to the source but not the signing key."""
    git(repo, "checkout", "-q", "-b", name)
    commit_version(repo, "evil")
    git(repo, "checkout", "-q", "main")


def test_a_branch_named_like_a_tag_changes_nothing(origin, root):
    plant_branch(origin, "v2")
    assert GitSource(str(origin)).versions() == ["v1", "v2", "v3", "v10"]
    root.build("v2")
    assert run_bin(root.troupe_bin("v2"), "version") == "v2"
    src = root.release_dir("v2") / "src"
    assert git(src, "rev-parse", "HEAD") == git(origin, "rev-parse", "v2^{commit}")
    assert git(src, "for-each-ref", "--format=%(refname)") == "refs/tags/v2\n"


def test_a_branch_named_like_a_signed_tag_changes_nothing(origin, tmp_path):
    commit_version(origin, "v11")
    git(origin, "tag", "-s", "-m", "v11", "v11")
    plant_branch(origin, "v11")
    src = Path(GitSource(str(origin), require_signed=True).fetch("v11", tmp_path / "w")[0])
    assert 'print("v11")' in (src / "src" / "troupe" / "__init__.py").read_text()
    assert git(src, "rev-parse", "HEAD") == git(origin, "rev-parse", "v11^{commit}")

    # a branch named like an unsigned tag: still refused, the branch's own state aside
    plant_branch(origin, "v2")
    with pytest.raises(ReleaseError, match="tag v2 is not signed"):
        GitSource(str(origin), require_signed=True).fetch("v2", tmp_path / "w2")


SECRET_URL = "https://bob:s3cret-pw@git.example.invalid/troupe.git"


def test_url_credentials_are_never_written_or_shown(origin, tmp_path, monkeypatch):
    # git fetches the local origin in place of the URL; the URL is what troupe is given
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.{origin}.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", SECRET_URL)
    root = ReleaseRoot(tmp_path / "opt", GitSource(SECRET_URL), reuse_site_packages=True)
    root.build("v1")
    release = root.release_dir("v1")
    assert "git https://git.example.invalid/troupe.git" in (release / "RELEASE").read_text()
    leaks = subprocess.run(["grep", "-rl", "s3cret-pw", str(release)],
                           capture_output=True, text=True).stdout
    assert leaks == ""  # not in RELEASE, not in src/.git/config, not in FETCH_HEAD

    with pytest.raises(ReleaseError) as err:
        root.build("v99")
    assert "s3cret" not in str(err.value) and "git.example.invalid" in str(err.value)
    monkeypatch.delenv("GIT_CONFIG_COUNT")
    unreachable = GitSource("https://bob:s3cret-pw@127.0.0.1:9/none.git")
    with pytest.raises(ReleaseError) as err:
        unreachable.versions()
    assert "s3cret" not in str(err.value) and "127.0.0.1:9" in str(err.value)


def test_git_and_the_health_check_never_see_the_slack_tokens(origin, tmp_path, monkeypatch):
    monkeypatch.setenv("TROUPE_SLACK_BOT_TOKEN", "xoxb-1-real-bot-token")
    monkeypatch.setenv("TROUPE_SLACK_APP_TOKEN", "xapp-1-real-app-token")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-2-another")
    seen = tmp_path / "git-env"
    wrapper = tmp_path / "git-wrapper"
    wrapper.write_text(f'#!/bin/sh\nenv >> "{seen}"\nexec git "$@"\n')
    wrapper.chmod(0o755)
    root = ReleaseRoot(tmp_path / "opt", GitSource(str(origin), git=str(wrapper)),
                       reuse_site_packages=True)
    root.build("v1")
    assert "GIT_CONFIG_GLOBAL=" in seen.read_text()  # the rest of the environment is kept
    assert "xoxb-" not in seen.read_text() and "xapp-" not in seen.read_text()
    config = tmp_path / "troupe.toml"
    config.write_text("[slack]\nchannel = 'home'\n")
    ok, out = root.health_check("v1", config)
    assert ok and "bot token seen: xoxb-withheld-from-health-check" in out
    assert "real-bot-token" not in out


def test_release_main(root, origin, tmp_path, capsys):
    config = tmp_path / "troupe.toml"
    config.write_text(f'[update]\nroot = "{root.path}"\nsource = "git"\nurl = "{origin}"\n')
    assert release_main(["available", "--config", str(config)]) == 0
    assert capsys.readouterr().out.split() == ["v1", "v2", "v3", "v10"]
    fast = "--reuse-site-packages"
    assert release_main(["build", "v1", "--config", str(config), fast]) == 0
    capsys.readouterr()
    root.switch("v1")
    assert release_main(["current", "--root", str(root.path)]) == 0
    assert capsys.readouterr().out.strip() == "v1"
    assert release_main(["upgrade", "v3", "--config", str(config), fast]) == 1
    assert "health check of v3 failed" in capsys.readouterr().err
    assert release_main(["switch", "--root", str(root.path), "--", "--upload-pack=x"]) == 1
    assert "not a valid version" in capsys.readouterr().err
    assert release_main(["rollback", "--root", str(root.path)]) == 1
    assert "no previous release" in capsys.readouterr().err
    assert release_main(["list", "--root", str(root.path)]) == 0
    assert capsys.readouterr().out.split("\n")[0] == "v1  (current)"


def test_index_source_parses_pip_output(tmp_path):
    out = "troupe (1.10)\nAvailable versions: 1.10, 1.9, 1.2\n"
    assert IndexSource.parse_versions(out) == ["1.10", "1.9", "1.2"]
    src = IndexSource("troupe", index_url="http://127.0.0.1:1/simple")
    assert src.describe() == "package troupe on http://127.0.0.1:1/simple"
    with pytest.raises(ReleaseError):
        IndexSource("--evil")


def test_release_venv_does_not_leak_this_interpreter(root):
    root.build("v1")
    code = "import sys; print(sys.prefix)"
    prefix = run_bin(root.release_dir("v1") / "venv" / "bin" / "python", "-c", code)
    assert Path(prefix) == root.release_dir("v1") / "venv"
    assert Path(prefix) != Path(sys.prefix)


# ---- a relative root, reused site-packages, and what a power cut or a race can leave ----------

def test_relative_root_is_made_absolute(tmp_path, origin, monkeypatch):
    """The venv's scripts and the links must not depend on the working directory."""
    monkeypatch.chdir(tmp_path)
    root = ReleaseRoot("opt", GitSource(str(origin)), reuse_site_packages=True)
    assert root.path.is_absolute()
    root.build("v1")  # pip runs with the release as its working directory
    assert root.path.samefile(tmp_path / "opt")
    root.switch("v1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # systemd starting the process somewhere else
    assert root.current_version() == "v1"
    assert run_bin(root.path / "current" / "venv" / "bin" / "troupe", "version") == "v1"
    config = tmp_path / "troupe.toml"
    config.write_text("")
    assert root.health_check("v1", config)[0]


def test_release_main_takes_a_relative_root_from_the_config_files_directory(
        tmp_path, origin, monkeypatch, capsys):
    etc = tmp_path / "etc"
    etc.mkdir()
    config = etc / "troupe.toml"
    config.write_text(f'[update]\nroot = "opt"\nsource = "git"\nurl = "{origin}"\n')
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert release_main(["build", "v1", "--config", str(config), "--reuse-site-packages"]) == 0
    assert (etc / "opt" / "releases" / "v1" / "RELEASE").is_file()
    assert not (cwd / "opt").exists()
    assert release_main(["switch", "v1", "--config", str(config)]) == 0
    assert os.readlink(etc / "opt" / "current") == os.path.join("releases", "v1")
    monkeypatch.chdir(etc)
    capsys.readouterr()
    assert release_main(["current", "--root", "opt"]) == 0  # --root: to the working directory
    assert capsys.readouterr().out.strip() == "v1"


BUILD_FROM_INSIDE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("releases_under_test", sys.argv[1])
releases = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = releases
spec.loader.exec_module(releases)
root = releases.ReleaseRoot(sys.argv[2], releases.GitSource(sys.argv[3]),
                            reuse_site_packages=True)
root.build("v2")
"""


def test_release_built_from_inside_a_release_reuses_the_base_packages(root, origin, tmp_path):
    """Release v2, built by a process running in release v1's venv, survives v1's removal."""
    import troupe.releases as module

    root.build("v1")
    root.switch("v1")
    inside = root.release_dir("v1") / "venv" / "bin" / "python"
    subprocess.run([str(inside), "-c", BUILD_FROM_INSIDE, module.__file__, str(root.path),
                    str(origin)], check=True, capture_output=True, text=True)
    pth = next(root.release_dir("v2").glob("venv/lib/python*/site-packages/_troupe_reuse.pth"))
    listed = pth.read_text().split()
    assert listed and not [d for d in listed if str(root.releases) in d]
    shutil.rmtree(root.release_dir("v1"))  # pruned, or rolled away from

    python2 = root.release_dir("v2") / "venv" / "bin" / "python"
    # pytest lives only in the environment running these tests: the base of every release
    assert run_bin(python2, "-c", "import pytest; print(pytest.__name__)") == "pytest"
    assert run_bin(root.troupe_bin("v2"), "version") == "v2"  # its own troupe, not the base's


def test_reused_site_dirs_follow_a_chain_to_the_base(tmp_path, monkeypatch):
    import troupe.releases as module

    base, old, mid = tmp_path / "base", tmp_path / "old", tmp_path / "mid"
    for d in (base, old, mid):
        d.mkdir()
    (old / "_troupe_reuse.pth").write_text(f"{base}\n")
    (mid / "_troupe_reuse.pth").write_text(f"# reused\n{old}\n{base}\n")  # an older chain
    monkeypatch.setattr(module.sysconfig, "get_paths",
                        lambda: {"purelib": str(mid), "platlib": str(mid)})
    assert module.reused_site_dirs() == [os.path.realpath(base)]


def test_switch_never_makes_a_missing_release_previous(tmp_path):
    root = ReleaseRoot(tmp_path / "opt")
    for v in ("v1", "v2", "v3"):
        (root.release_dir(v)).mkdir(parents=True)
        (root.release_dir(v) / "RELEASE").write_text("{}\n")
    root.switch("v1")
    root.switch("v2")
    shutil.rmtree(root.release_dir("v2"))  # removed by hand under the running service
    root.switch("v3")
    assert (root.current_version(), root.previous_version()) == ("v3", "v1")
    assert (root.path / "previous").resolve().is_dir()
    assert root.rollback() == "v1"

    # a rollback cut short between its two links left previous == current: no way back
    os.replace(root.path / "current", root.path / "previous")
    os.symlink(os.path.join("releases", "v1"), root.path / "current")
    with pytest.raises(ReleaseError, match="no previous release"):
        root.rollback()
    assert not root.failed("v1")  # the release that runs is not marked failed


def test_prune_cut_short_leaves_no_release_that_looks_complete(tmp_path, mocker):
    import troupe.releases as module

    root = ReleaseRoot(tmp_path / "opt")
    for v in ("v1", "v2", "v3"):
        (root.release_dir(v) / "venv" / "bin").mkdir(parents=True)
        (root.release_dir(v) / "RELEASE").write_text("{}\n")
    root.switch("v2")
    root.switch("v3")
    real_rmtree = shutil.rmtree

    def power_cut(path, *args, **kwargs):
        real_rmtree(Path(path) / "venv")  # part of the tree is gone, the marker is not
        raise OSError("power cut")

    cut = mocker.patch.object(module.shutil, "rmtree", side_effect=power_cut)
    with pytest.raises(OSError, match="power cut"):
        root.prune(keep=0)
    assert cut.called
    assert root.versions() == ["v2", "v3"]  # v1 is not half there
    mocker.stop(cut)
    assert root.prune(keep=0) == []
    assert sorted(p.name for p in root.releases.iterdir()) == [".lock", "v2", "v3"]


def test_markers_are_durable_and_readable(tmp_path, mocker):
    root = ReleaseRoot(tmp_path / "opt")
    for v in ("v1", "v2"):
        (root.release_dir(v)).mkdir(parents=True)
        (root.release_dir(v) / "RELEASE").write_text("{}\n")
    root.switch("v1")
    root.switch("v2")
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    mocker.patch("os.fsync", side_effect=spy)
    root.rollback()
    assert str(root.path) in synced  # the renamed links reach the disk
    assert str(root.release_dir("v2")) in synced  # and the FAILED marker's entry
    assert stat.S_IMODE((root.release_dir("v2") / "FAILED").stat().st_mode) == 0o644


def test_links_move_under_the_lock(tmp_path, mocker):
    import fcntl

    root = ReleaseRoot(tmp_path / "opt")
    for v in ("v1", "v2"):
        (root.release_dir(v)).mkdir(parents=True)
        (root.release_dir(v) / "RELEASE").write_text("{}\n")
    held: list[bool] = []
    real_point = ReleaseRoot._point

    def probe(self, name, version):
        fd = os.open(self.releases / ".lock", os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.append(False)  # nobody else held it
        except BlockingIOError:
            held.append(True)
        finally:
            os.close(fd)
        real_point(self, name, version)

    mocker.patch.object(ReleaseRoot, "_point", autospec=True, side_effect=probe)
    root.switch("v1")
    root.switch("v2")
    root.rollback()
    assert held and all(held)


OFFLINE_BACKEND = '''
"""A PEP 517 backend with no requirements: pip builds the project with no network."""
import base64, hashlib, os, zipfile

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    dist = "troupe-1.dist-info"
    files = {"troupe/__init__.py": "def main():\\n    print('v1')\\n",
             f"{dist}/METADATA": "Metadata-Version: 2.1\\nName: troupe\\nVersion: 1\\n",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
             f"{dist}/entry_points.txt": "[console_scripts]\\ntroupe = troupe:main\\n"}
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, "troupe-1-py3-none-any.whl"), "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest())
            record.append(f"{path},sha256={digest.rstrip(b'=').decode()},{len(text)}")
        z.writestr(f"{dist}/RECORD", "\\n".join(record + [f"{dist}/RECORD,,"]) + "\\n")
    return "troupe-1-py3-none-any.whl"
'''


@pytest.mark.timeout(300)
def test_a_pi_release_venv_sees_the_system_pin_library(tmp_path, gitenv, mocker):
    """What an update builds on a Pi (no reuse_site_packages): a venv with the system's
    packages (python3-lgpio), the release's own installed into it (--ignore-installed)."""
    repo = tmp_path / "offline"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "pyproject.toml").write_text('[build-system]\nrequires = []\n'
                                         'build-backend = "backend"\nbackend-path = ["."]\n')
    (repo / "backend.py").write_text(OFFLINE_BACKEND)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "v1")
    git(repo, "tag", "v1")
    root = ReleaseRoot(tmp_path / "opt", GitSource(str(repo)))
    run = mocker.spy(releases, "_run")  # reads the command lines; every one really runs
    venv = root.build("v1") / "venv"
    commands = [call.args[0] for call in run.call_args_list]
    assert [root.python, "-m", "venv", "--system-site-packages", str(venv)] in commands
    pip = [c for c in commands if c[1:4] == ["-m", "pip", "install"]]
    assert len(pip) == 1 and "--ignore-installed" in pip[0] and pip[0][0] == str(
        venv / "bin" / "python")
    assert "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text()
    assert run_bin(venv / "bin" / "troupe").strip() == "v1"
