"""Secrets stay in (issue 12, items 5 and 6): masking by shape, logs and tracebacks,
child environments, `troupe check`'s masking and its warnings, [auth] admins."""

from __future__ import annotations

import io
import logging

import pytest

from troupe.secrets import child_env, looks_secret, mask, redact, strip_url_credentials
from troupe.text import RedactingFilter

TOKENS = [
    "xoxb-1234-5678-abcdEFGH", "xoxp-1-2-3-abc", "xoxa-2-abc", "xoxe.xoxp-1-Mi0yLTE",
    "xoxe-1-My0xLTEy", "xoxr-abc", "xapp-1-A0123-456-abcdef",
]


@pytest.mark.parametrize("token", TOKENS)
def test_every_kind_of_slack_token_is_masked(token):
    text = f"bot-token = {token!r}, then more"
    out = redact(text)
    assert token not in out and "<redacted>" in out and out.endswith("', then more")
    assert looks_secret(text)


def test_url_credentials_are_masked_and_stripped():
    url = "https://bob:s3cret@git.example.org/troupe.git"
    assert redact(f"fetch {url} failed") == (
        "fetch https://<redacted>@git.example.org/troupe.git failed")
    assert strip_url_credentials(url) == "https://git.example.org/troupe.git"
    # a bare user on https is usually an access token
    assert strip_url_credentials("https://ghp_abc123@github.com/x.git") == "https://github.com/x.git"
    # ssh://git@host names a user, no secret: left alone
    assert strip_url_credentials("ssh://git@github.com/x.git") == "ssh://git@github.com/x.git"
    assert not looks_secret("https://github.com/x.git")
    assert not looks_secret("a token starting with xoxb- (or set TROUPE_SLACK_BOT_TOKEN)")
    assert mask({"a": ["xoxb-1-2", 3]}) == {"a": ["xoxb-<redacted>", 3]}


def test_child_env_has_no_slack_secrets():
    base = {"PATH": "/usr/bin", "HOME": "/var/lib/troupe",
            "TROUPE_SLACK_BOT_TOKEN": "xoxb-1", "TROUPE_SLACK_APP_TOKEN": "xapp-1",
            "SLACK_BOT_TOKEN": "xoxb-2", "SLACK_SIGNING_SECRET": "abc",
            "MY_OTHER": "has xoxp-3-4 inside", "SLACK_CHANNEL": "home"}
    assert child_env(base) == {"PATH": "/usr/bin", "HOME": "/var/lib/troupe",
                               "SLACK_CHANNEL": "home"}


def _log_through_filter(emit) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("test_security.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        emit(log)
    finally:
        log.removeHandler(handler)
    return stream.getvalue()


def test_log_messages_and_tracebacks_are_redacted():
    token, url = "xoxb-1111-2222-secretpart", "https://bob:pw123@host.example/x.git"

    def emit(log):
        log.warning("connecting with %s to %s", token, url)
        try:
            raise RuntimeError(f"Slack said no to {token} at {url}")
        except RuntimeError:
            log.exception("failed")

    out = _log_through_filter(emit)
    assert "Traceback" in out and "RuntimeError: Slack said no to xoxb-<redacted>" in out
    assert "secretpart" not in out and "pw123" not in out
    assert out.count("https://<redacted>@host.example/x.git") == 2


def troupe_check(tmp_path, text: str, **env: str):
    import os
    import subprocess
    import sys

    path = tmp_path / "troupe.toml"
    path.write_text(text)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TROUPE_SLACK_")}
    full_env["TROUPE_FEDERATION_SECRET"] = "a-secret-every-pi-of-the-house-shares"
    full_env.update(env)
    return subprocess.run([sys.executable, "-m", "troupe", "check", "--config", str(path)],
                          capture_output=True, text=True, env=full_env, timeout=60)


GOOD = '''[slack]
bot_token = "xoxb-1-good"
app_token = "xapp-1-good"
channel = "home"
[plugins]
enabled = ["core"]
'''


def test_check_never_echoes_a_token_whatever_its_key(tmp_path):
    secret = "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
    done = troupe_check(tmp_path, GOOD.replace('channel = "home"', f'channel = "home"\n'
                        f'bot-token = "{secret}"\napiurl = "https://bob:pw9@h.example/api/"'))
    out = done.stdout + done.stderr
    assert done.returncode == 2
    assert "slack.bot-token = 'xoxb-<redacted>'" in out  # still names the key that is wrong
    assert "slack.apiurl = 'https://<redacted>@h.example/api/'" in out
    assert secret not in out and "AbCdEf" not in out and "pw9" not in out


def test_check_warns_about_an_open_house(tmp_path):
    done = troupe_check(tmp_path, GOOD)
    assert done.returncode == 0, done.stderr
    assert "warning: auth.users is empty: every person in the channel may give commands" \
        in done.stderr
    done = troupe_check(tmp_path, GOOD + '[auth]\nusers = ["U0OWNER"]\n')
    assert done.returncode == 0 and "warning" not in done.stderr


def test_admins_must_be_users(tmp_path):
    done = troupe_check(tmp_path, GOOD + '[auth]\nusers = ["U0OWNER"]\nadmins = ["U0OTHER"]\n')
    assert done.returncode == 2
    assert "auth.admins = 'U0OTHER': expected only people also listed in auth.users" in done.stderr
    done = troupe_check(tmp_path, GOOD + '[auth]\nusers = ["U1", "U2"]\nadmins = "U1"\n')
    assert done.returncode == 2 and "auth.admins = 'U1': expected a list" in done.stderr
    done = troupe_check(tmp_path, GOOD + '[auth]\nusers = ["U1", "U2"]\nadmins = ["U1"]\n')
    assert done.returncode == 0, done.stderr


@pytest.mark.multihost
def test_only_admins_run_admin_commands(tmp_path):
    """[auth] admins: a user who is no admin may run commands, not `target` (nor update,
    rollback, debug); one Pi refuses, privately; the admin's `target` works."""
    from troupe.testing import Federation, wait_for

    fed = Federation(tmp_path / "fed", 2, plugins=["core"])
    fed.ws.start()  # (idempotent) the member must exist before the Pis read their config
    owner, member = fed.ws.user, fed.ws.add_user("member")
    fed.config = {"auth": {"users": [owner["id"], member["id"]], "admins": [owner["id"]]}}
    ephemerals: list[dict] = []
    fed.ws.add_listener(ephemerals.append, ["ephemeral"])
    with fed:
        refused = fed.say("target pi-2", user=member)
        wait_for(lambda: ephemerals, 20, "the refusal")
        assert ephemerals[0]["user"] == member["id"]
        assert ephemerals[0]["text"] == ("Sorry, only the house's admins may run `target`. "
                                         "Ask its owner to add your user ID to [auth] admins.")
        ts = fed.say("status", user=member)  # an ordinary command: the member may
        assert "Exclusive commands go to: any Pi" in fed.wait_for_answer(ts)["text"]
        assert len(ephemerals) == 1 and not fed.answers_to(refused)
        # A refusal costs no pin and no marker (issue 12): only the one ephemeral.
        assert not fed.ws.reactions(refused)
        assert all(p["message"]["ts"] != refused for p in fed.ws.pins())

        ts = fed.say("target pi-2")  # the admin
        assert "now go to pi-2" in fed.wait_for_answer(ts)["text"]


def test_the_house_changing_commands_are_admin_commands():
    from troupe_plugins.core import Core
    from troupe_plugins.update import Update

    from troupe.commands import commands_of

    admin = {s.name for cls in (Core, Update) for s in commands_of(cls) if s.admin}
    assert admin == {"target", "debug", "update", "prepare", "rollout", "rollback"}
