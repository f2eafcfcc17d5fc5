"""Issue 12: only the house's Pis speak for the federation; outsiders' marks and pins count
for nothing; a refusal costs at most one call. A stranger is an app in the channel with no
troupe process (posting through its own WebClient); an outsider is a person not in
[auth] users."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from slack_sdk import WebClient

from tests.test_federation import probe_federation, runs
from troupe.authors import COMMAND_EVENT
from troupe.federation import Roster, Seal
from troupe.testing import wait_for

pytestmark = pytest.mark.multihost


def stranger(fed, name: str = "pi-3") -> WebClient:
    return WebClient(token=fed.ws.app(name)["bot_token"], base_url=fed.ws.api_url)


def test_a_stranger_app_cannot_command_the_house(tmp_path: Path):
    fed, log = probe_federation(tmp_path, 2, extra_apps=1)
    with fed:
        app = stranger(fed)
        for on_behalf_of in ("", fed.ws.user["id"]):  # as the federation; as the owner
            meta = {"event_type": COMMAND_EVENT, "event_payload": {"on_behalf_of": on_behalf_of}}
            app.chat_postMessage(channel=fed.ws.channel_id, text="count 1",
                                 metadata=json.dumps(meta))
        # A copy of a real Pi's signed command, posted by the stranger: bound to pi-1's user.
        pi1 = fed.ws.app("pi-1")
        seal = Seal(fed.secret)
        seal.serve(fed.ws.channel_id, pi1["bot_user_id"])
        meta = seal.metadata(COMMAND_EVENT, "count 2", {"on_behalf_of": ""})
        app.chat_postMessage(channel=fed.ws.channel_id, text="count 2", metadata=json.dumps(meta))
        app.chat_postMessage(channel=fed.ws.channel_id, text="target nobody", metadata=json.dumps(
            {"event_type": COMMAND_EVENT, "event_payload": {"on_behalf_of": ""}}))
        ok = fed.say("count 3")
        fed.wait_for_answer(ok)
        assert runs(log) == {3: 1}
        status = fed.say("status")
        text = fed.wait_for_answer(status)["text"]
        assert "Exclusive commands go to: any Pi" in text
        assert "Pis in #home: pi-1, pi-2\n" in text  # the idle stranger is not a Pi


def test_outsiders_marks_and_pins_count_for_nothing(tmp_path: Path):
    fed, log = probe_federation(tmp_path, 2, extra_apps=1,
                                config={"troupe": {"preferred_window": 1.5}})
    with fed:
        mallory = fed.ws.add_user("mallory")
        people = WebClient(token=mallory["token"], base_url=fed.ws.api_url)
        app = stranger(fed)
        fed.ws.set_event_delay(400)  # the outsiders act before the Pis see the command
        marked = fed.say("count 1")
        people.reactions_add(channel=fed.ws.channel_id, timestamp=marked,
                             name="white_check_mark")
        app.reactions_add(channel=fed.ws.channel_id, timestamp=marked, name="white_check_mark")
        pinned = fed.say("count 2")
        people.pins_add(channel=fed.ws.channel_id, timestamp=pinned)
        fed.ws.set_event_delay(0)
        fed.wait_for_answer(marked)
        fed.wait_for_answer(pinned, timeout=30)
        wait_for(lambda: not fed.ws.pins(), 20, "every pin to be gone")
        assert runs(log) == {1: 1, 2: 1}
        assert "stopped answering" not in json.dumps(fed.answers_to(pinned))


def test_three_hundred_outsider_messages_cost_a_few_calls(tmp_path: Path):
    fed, log = probe_federation(tmp_path, 3)
    with fed:
        mallory = fed.ws.add_user("mallory")
        before = fed.ws.call_counts()
        for i in range(300):
            fed.ws.post(f"count {i}", user=mallory["id"])
        ok = fed.say("count 1000")
        fed.wait_for_answer(ok)
        after = fed.ws.call_counts()
        spent = {pi: {m: n - before.get(pi, {}).get(m, 0) for m, n in calls.items()
                      if n - before.get(pi, {}).get(m, 0)} for pi, calls in after.items()}
        ephemerals = sum(c.get("chat.postEphemeral", 0) for c in spent.values())
        assert 1 <= ephemerals <= 3 * 3  # at most 3 a minute per Pi, and only the first in line
        for calls in spent.values():
            assert not calls.get("pins.add", 0) > 1  # only the authorized toggle's claim
            assert not calls.get("reactions.add", 0) > 1
        assert runs(log) == {1000: 1}


def test_an_edited_message_is_fresh_by_its_last_edit():
    """A board (or a scene's answer) edited long after it was posted is signed anew: its
    freshness is measured from Slack's time of the edit, which only its poster can make."""
    seal = Seal("a-secret-every-pi-of-the-house-shares", max_age=300)
    seal.serve("C1", "UPI")
    text = "pi-1's board"
    message = {"ts": "1000.000100", "user": "UPI", "text": text,
               "metadata": seal.metadata("troupe_board", text, {"host": "pi-1"}, at=5000)}
    assert not seal.verify(message)  # signed an hour after the message's ts: stale
    assert seal.verify({**message, "edited": {"user": "UPI", "ts": "5000.000200"}})
    assert not seal.verify({**message, "user": "USTRANGER",
                            "edited": {"user": "USTRANGER", "ts": "5000.000200"}})


def test_an_outsiders_pin_made_while_no_pi_watched_is_removed_not_reported(tmp_path: Path):
    """Pinned by an outsider while every Pi was down: found at catch-up, the pin is not a
    claim: no "stopped answering" report, the pin is removed and the command runs once."""
    fed, log = probe_federation(tmp_path, 2)
    fed.ws.start()
    mallory = fed.ws.add_user("mallory")
    ts = fed.say("count 1")
    WebClient(token=mallory["token"], base_url=fed.ws.api_url).pins_add(
        channel=fed.ws.channel_id, timestamp=ts)
    with fed.start(["pi-1"]):  # (the Pis come back one by one: see docs/security.md)
        fed.start(["pi-2"])
        wait_for(lambda: runs(log) == {1: 1}, 40, "the command to run")
        wait_for(lambda: not fed.ws.pins(), 20, "every pin to be gone")
        answers = json.dumps(fed.answers_to(ts))
        assert "stopped answering" not in answers
        assert runs(log) == {1: 1}


def test_a_new_federation_secret_forgets_the_pis_proven_under_the_old_one(tmp_path):
    """Retiring a Pi (docs/security.md): the others get a new secret. The Pis each one kept
    across restarts (<state_dir>/<host>.pis.json) were proven under the old secret: they are
    learnt again from boards signed with the new one, so the retired Pi is not trusted on."""
    old, new = "a" * 43, "b" * 43
    Roster(None, Seal(old), "pi-1", tmp_path).learn("U0RETIRED", "pi-9")
    assert Roster(None, Seal(old), "pi-1", tmp_path).is_pi("U0RETIRED")  # kept: a restart
    assert not Roster(None, Seal(new), "pi-1", tmp_path).is_pi("U0RETIRED")
    assert "a" * 43 not in (tmp_path / "pi-1.pis.json").read_text()  # named, not revealed
