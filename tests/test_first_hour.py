"""A newcomer's first hour (issue 14): the `troupe` command and `troupe check` messages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import troupe
from troupe.cli import main
from troupe.release_cli import RELEASE_ACTIONS

TROUPE = str(Path(sys.executable).with_name("troupe"))
TOKENS = {"TROUPE_SLACK_BOT_TOKEN": "xoxb-1-2-abcdef", "TROUPE_SLACK_APP_TOKEN": "xapp-1-A1-2-abc",
          "TROUPE_FEDERATION_SECRET": "a-secret-every-pi-of-the-house-shares"}


def troupe_check(path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("TROUPE_SLACK_") and k != "TROUPE_FEDERATION_SECRET"}
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


# ---- answers in the channel ------------------------------------------------------------
PLUGINS = Path(__file__).parent / "plugins"


def test_unknown_text_is_quoted_short_marked_declined_and_logged_short(tmp_path):
    from troupe.testing import Federation, wait_for

    with Federation(tmp_path / "fed", 1, plugins=["probe"], plugin_paths=[PLUGINS],
                    config={"probe": {"log": str(tmp_path / "runs.log")}}) as fed:
        fed.start()
        ts = fed.say("frobnicate `the` moon")
        answer = fed.wait_for_answer(ts)["text"]
        assert answer.startswith("I don't know `frobnicate 'the' moon`.")  # backticks defused
        # answered, but nothing was done: not the done marker
        wait_for(lambda: fed.ws.reactions(ts), 10, "the outcome marker")
        assert [r["name"] for r in fed.ws.reactions(ts)] == ["grey_question"]

        # 39,990 characters: a short quote (before: 40,000+ echoed, msg_too_long, no answer)
        log_before = len(fed.log("pi-1"))
        long_text = "word `tick` & <b> " * (39_990 // 18)
        ts = fed.say(long_text)
        answer = fed.wait_for_answer(ts)["text"]
        assert len(answer) < 200 and answer.count("`") == 4  # the quote's and `help`'s
        assert answer.startswith("I don't know `word 'tick' &amp; &lt;b&gt; word")
        wait_for(lambda: fed.ws.reactions(ts), 10, "the outcome marker")
        # the log says what happened, with a quote: not the whole text, not three times
        assert len(fed.log("pi-1")) - log_before < 2_000
        # `help <topic>` echoes its topic the same way
        ts = fed.say("help " + long_text)
        assert len(fed.wait_for_answer(ts)["text"]) < 200


def test_a_command_whose_answer_is_lost_is_done_and_the_log_says_so(tmp_path):
    from troupe.testing import Federation, wait_for

    log = tmp_path / "runs.log"
    with Federation(tmp_path / "fed", 1, plugins=["probe"], plugin_paths=[PLUGINS],
                    config={"probe": {"log": str(log)}}) as fed:
        fed.start()
        # Slack refuses the answer for good (a 429 or a 5xx is posted again later: issue 18)
        fed.ws.fail_method("chat.postMessage", mode="error", error="msg_too_long", count=1,
                           app="pi-1")
        ts = fed.say("count 5")
        wait_for(lambda: fed.ws.reactions(ts), 30, "the outcome marker")
        assert [r["name"] for r in fed.ws.reactions(ts)] == ["white_check_mark"]  # not :x:
        assert log.read_text().split() == ["count", "5", "pi-1"]  # ran once
        assert fed.answers_to(ts) == []
        assert "ran, but its answer was lost (SlackApiError" in fed.log("pi-1")
        assert "'counted 5'" in fed.log("pi-1")  # what the answer said


# ---- what the core answers, from the bundled plugins' own commands -----------------------
def bundled_specs():
    from troupe.commands import commands_of
    from troupe.loader import bundled_names, load_plugin_class

    return [spec for name in bundled_names() for spec in commands_of(load_plugin_class(name))]


@pytest.mark.parametrize("text, answer", [
    ("dim lounge to 150%", "`dim lounge to 150%`: the level goes from 0 to 100%."),
    ("dim lounge light to -5", "`dim lounge light to -5`: the level goes from 0 to 100%."),
])
def test_a_typed_value_out_of_range_says_the_range(text, answer):
    from troupe.help import unknown_answer

    assert unknown_answer(text, bundled_specs()) == answer


def test_a_delay_out_of_range_says_the_range():
    from troupe_plugins.schedules.when import WhenError, parse_in

    with pytest.raises(WhenError, match="the delay goes from 1 second to 120 days"):
        parse_in("99999999999 minutes switch porch off")
    assert parse_in("120 days switch porch off").delay == 120 * 86400


def test_help_shows_whole_sentences_and_hides_what_is_not_for_typing():
    from troupe.help import help_text, suggest

    specs = bundled_specs()
    text = help_text(specs)
    assert ("target <host> — Send exclusive commands to one Pi (`target pi-2`) until "
            "`target all`; the Pis remember it across restarts.") in text
    internal = [s for s in specs if s.internal]
    assert {s.usage.split()[0] for s in internal} >= {"fire", "update", "scene", "schedule"}
    for spec in internal:
        assert spec.usage not in text
    assert suggest("fire schedule now", specs) != ["fire schedule <spec...>"]


# ---- the README and the example house ----------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "house.toml"


def test_readme_invites_the_bots_by_the_manifests_name():
    manifest = (ROOT / "deploy" / "slack-app-manifest.yaml").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "display_name: troupe-HOSTNAME" in manifest
    assert "`/invite @troupe-pi-1 @troupe-pi-2 ...`" in readme
    assert "/invite @pi-1" not in readme
    assert re.search(r"make test .*about \d+ minutes", readme)  # says how long it takes
    assert "`chromium` package with `apt-get`" in readme


def test_the_example_house_uses_every_bundled_plugin_and_passes_troupe_check(tmp_path):
    import tomllib

    from troupe.loader import bundled_names, load_plugin_class

    text = EXAMPLE.read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    for name in bundled_names():
        if name != "core":
            assert name in raw["plugins"]["enabled"]
            assert any(s in raw for s in load_plugin_class(name).owned_sections()), name
    env = {**TOKENS, "GPIOZERO_PIN_FACTORY": "mock"}  # tokens as a Pi's env file has them
    # As it is, on a machine deploy/install.sh has not set up: only the release root is missing.
    if not Path("/opt/troupe").exists():
        proc = troupe_check(EXAMPLE, **env)
        assert proc.returncode == 2, proc.stdout
        assert "1 configuration problem(s)" in proc.stderr
        assert "update.root = '/opt/troupe': expected an existing folder of releases" \
            in proc.stderr
    # With the root install.sh would have made (here a folder of the test's own): OK.
    root = tmp_path / "opt-troupe"
    root.mkdir()
    house = tmp_path / "troupe.toml"
    house.write_text(text.replace('root = "/opt/troupe"', f'root = "{root}"', 1))
    assert house.read_text() != text
    proc = troupe_check(house, **env)
    assert proc.returncode == 0, proc.stderr
    assert "OK (host pi-1; plugins: core, lights, sensors, scenes, schedules, update" in proc.stdout


def test_release_names_an_unusable_configuration_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "troupe.toml"
    path.write_bytes('[update]\nurl = "caf\u00e9"\n'.encode("latin-1"))
    assert main(["release", "available", "--config", str(path)]) == 2
    assert f"cannot read {path}: 'utf-8' codec can't decode" in capsys.readouterr().err
