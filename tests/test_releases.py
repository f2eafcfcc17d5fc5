"""troupe.releases against a local git repository of a tiny stub project (no network)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from troupe.releases import (
    GitSource,
    IndexSource,
    ReleaseError,
    ReleaseRoot,
    release_main,
    upgrade,
    validate_version,
    version_key,
)

STUB = '''
import sys

def main():
    args = sys.argv[1:]
    if args[:1] == ["version"]:
        print("{version}")
    elif args[:1] == ["check"]:
        print("checked {version} with", args[2])
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
