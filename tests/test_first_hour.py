"""A newcomer's first hour (issue 14): the `troupe` command and `troupe check` messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import troupe
from troupe.cli import main
from troupe.release_cli import RELEASE_ACTIONS

TROUPE = str(Path(sys.executable).with_name("troupe"))
TOKENS = {"TROUPE_SLACK_BOT_TOKEN": "xoxb-1-2-abcdef", "TROUPE_SLACK_APP_TOKEN": "xapp-1-A1-2-abc"}


def troupe_check(path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TROUPE_SLACK_")}
    return subprocess.run([TROUPE, "check", "--config", str(path)], capture_output=True,
                          text=True, env={**base, **env}, timeout=60)


# ---- the `troupe` command ---------------------------------------------------------------
def test_troupe_alone_prints_the_help(capsys):
    assert main([]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: troupe") and err == ""
    for name in ("run", "check", "sim", "demo", "release"):
        assert f"    {name} " in out


def test_troupe_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"troupe {troupe.__version__}"


@pytest.mark.parametrize("command", ["run", "check"])
def test_config_option_says_what_it_is(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--config CONFIG, -c CONFIG this Pi's configuration file (default: troupe.toml)" in out


def test_release_subcommands_are_described(capsys):
    with pytest.raises(SystemExit):
        main(["release", "--help"])
    out = capsys.readouterr().out
    for action in ("list", "current", "available", "build", "check", "switch", "upgrade",
                   "rollback", "prune"):
        assert f"  {action:<10} {RELEASE_ACTIONS[action]}" in out


# ---- troupe check ----------------------------------------------------------------------
README_SLACK = '[slack]\nbot_token = "xoxb-..."\napp_token = "xapp-..."\nchannel = "home"\n'


def test_check_refuses_the_readmes_placeholder_tokens(tmp_path):
    path = tmp_path / "troupe.toml"
    path.write_text(README_SLACK)
    proc = troupe_check(path)
    assert proc.returncode == 2 and "OK" not in proc.stdout
    assert "slack.bot_token = 'xoxb-...': expected this Pi's own token, not a placeholder" \
        in proc.stderr
    assert "slack.app_token = 'xapp-...': expected this Pi's own token" in proc.stderr
    # the same placeholders from the environment
    path.write_text('[slack]\nchannel = "home"\n')
    proc = troupe_check(path, TROUPE_SLACK_BOT_TOKEN="xoxb-<yours>",
                        TROUPE_SLACK_APP_TOKEN="xapp-1-A1-2-abc")
    assert proc.returncode == 2 and "TROUPE_SLACK_BOT_TOKEN" in proc.stderr
    assert "placeholder" in proc.stderr
    # real-looking tokens pass
    assert troupe_check(path, **TOKENS).returncode == 0


def test_check_refuses_the_deploy_docs_placeholder_url_and_a_missing_release_root(tmp_path):
    path = tmp_path / "troupe.toml"
    path.write_text('[slack]\nchannel = "home"\n[update]\n'
                    'url = "https://github.com/<you>/troupe.git"\n')
    proc = troupe_check(path, **TOKENS)
    assert proc.returncode == 2
    assert "update.url = 'https://github.com/<you>/troupe.git': expected your repository's URL" \
        in proc.stderr
    path.write_text(f'[slack]\nchannel = "home"\n[update]\nurl = "https://example.org/t.git"\n'
                    f'root = "{tmp_path / "opt"}"\n')
    proc = troupe_check(path, **TOKENS)
    assert proc.returncode == 2
    assert f"update.root = '{tmp_path / 'opt'}': expected an existing folder of releases" \
        in proc.stderr
    (tmp_path / "opt").mkdir()
    assert troupe_check(path, **TOKENS).returncode == 0


def test_check_says_to_enable_the_plugin_that_owns_a_table(tmp_path):
    path = tmp_path / "troupe.toml"
    path.write_text('[slack]\nchannel = "home"\n[plugins]\nenabled = ["scenes"]\n'
                    '[schedules.morning]\nat = "07:00"\ncommand = "goodnight"\n')
    proc = troupe_check(path, **TOKENS)
    assert proc.returncode == 2
    assert ("schedules = '[table]': expected the schedules plugin enabled to use it: "
            "add \"schedules\" to [plugins] enabled") in proc.stderr
    assert "known section" not in proc.stderr


@pytest.mark.parametrize("kind", ["folder", "latin-1", "unreadable"])
def test_check_names_an_unusable_file_without_a_traceback(kind, tmp_path, mocker, capsys):
    path = tmp_path / "troupe.toml"
    if kind == "folder":
        path.mkdir()
        expected = "expected a TOML file, not a folder"
    elif kind == "latin-1":
        path.write_bytes('[slack]\nchannel = "caf\u00e9"\n'.encode("latin-1"))
        expected = "expected a TOML file in UTF-8 (line 2: b'\\xe9' is not UTF-8)"
    else:  # root reads every file: make this one refuse, as it would for the troupe user
        path.write_text(README_SLACK)
        mocker.patch("troupe.config.open", create=True,
                     side_effect=PermissionError(13, "Permission denied"))
        expected = "expected a TOML file this user may read"
    assert main(["check", "--config", str(path)]) == 2
    assert f"(file) = '{path}': {expected}" in capsys.readouterr().err
    mocker.stopall()
    if kind != "unreadable":  # the real command too, in its own process
        proc = troupe_check(path, **TOKENS)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert f"(file) = '{path}': {expected}" in proc.stderr
