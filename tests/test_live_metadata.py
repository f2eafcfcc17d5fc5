"""Live message events carry only metadata.event_type (as on Slack): a federation command
posted by another Pi on someone's behalf still counts as theirs (issue 17)."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest
from slack_sdk import WebClient

from troupe.authors import COMMAND_EVENT
from troupe.federation import Seal
from troupe.testing import Federation

PLUGINS = Path(__file__).parent / "plugins"
pytestmark = pytest.mark.multihost


def runs(path: Path) -> collections.Counter:
    if not path.exists():
        return collections.Counter()
    return collections.Counter(int(line.split()[1]) for line in path.read_text().splitlines()
                               if line.startswith("count "))


def test_federation_command_counts_as_its_requester_without_a_live_payload(tmp_path):
    log = tmp_path / "runs.log"
    fed = Federation(tmp_path / "fed", 2, plugins=["probe"], plugin_paths=[PLUGINS],
                     config={"probe": {"log": str(log)}}, extra_apps=1)
    with fed:
        mallory = fed.ws.add_user("mallory")
        other_pi = WebClient(token=fed.ws.app("pi-3")["bot_token"], base_url=fed.ws.api_url)

        seal = Seal(fed.secret)  # pi-3 is a Pi of this house: it holds the secret
        seal.serve(fed.ws.channel_id, fed.ws.app("pi-3")["bot_user_id"])

        def post(text: str, on_behalf_of: str) -> dict:
            meta = seal.metadata(COMMAND_EVENT, text, {"on_behalf_of": on_behalf_of})
            return other_pi.chat_postMessage(channel=fed.ws.channel_id, text=text,
                                             metadata=json.dumps(meta))

        post("count 3", mallory["id"])  # refused (by one Pi, maybe pi-3, which is not running)
        allowed = post("count 4", fed.ws.user["id"])["ts"]
        fed.wait_for_answer(allowed)
        assert runs(log) == {4: 1}  # mallory's went unrun: no payload read as "the federation"
        reads = sum(c.get("conversations.history", 0) for c in fed.ws.call_counts().values())
        assert reads >= 2  # each Pi read the payload the live event did not carry
