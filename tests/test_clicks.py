"""Buttons on answers (issue 15): a click on a panel is the typed command, run once, for who
clicked, by real `troupe run` Pis against the Slack emulator, the Hue emulator and mock pins."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import troupe
from troupe.clicks import Clicks
from troupe.panels import Button, Panel, Row, panel_name
from troupe.sim.hue import HueBridge
from troupe.testing import Federation, wait_for

HOUSE = {"dining": {"hue": "Dining"}, "porch": {"gpio": 17, "host": "pi-2"}}


@pytest.fixture
def hue():
    with HueBridge(lights=["Dining"]) as bridge:
        yield bridge


@pytest.fixture
def fed(tmp_path: Path, hue: HueBridge):
    with Federation(tmp_path / "fed", 3, plugins=["lights", "scenes"], gpio=True,
                    config={"hue": {"bridge": hue.address, "username": hue.username},
                            "lights": HOUSE,
                            "scenes": {"evening": {"steps": ["switch dining on"]}}}
                    ) as federation:
        yield federation


def button(message: dict[str, Any], command: str) -> str:
    """The action_id of the button that runs `command` on a panel."""
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("value") == command:
                return element["action_id"]
    raise AssertionError(f"no button for {command!r} in {message.get('blocks')}")


def panel_of(fed: Federation, ts: str) -> dict[str, Any]:
    return next(m for m in fed.ws.messages() if m["ts"] == ts)


def commands_in(fed: Federation, thread_ts: str, text: str) -> list[dict[str, Any]]:
    return [m for m in fed.bot_messages(thread_ts=thread_ts) if m.get("text") == text
            and (m.get("metadata") or {}).get("event_type") == "troupe_command"]


def test_a_panel_is_blocks_with_a_text_fallback():
    panel = Panel("lights", "Lights", [Row("- porch: off", [Button("On", "switch porch on")])],
                  host="pi-2", text="Lights:\n- porch: off")
    blocks = panel.blocks()
    assert panel.fallback() == "Lights:\n- porch: off"
    assert panel_name(blocks) == "lights" and "served by pi-2" in blocks[0]["text"]["text"]
    assert blocks[2]["elements"][0]["value"] == "switch porch on"
    many = Panel("x", "X", [Row(f"row {n}", [Button("Go", "go")]) for n in range(40)], "pi-1")
    assert len(many.blocks()) <= 50 and "17 more not shown" in str(many.blocks()[-1])


@pytest.mark.multihost
def test_clicks_run_once_for_who_clicked_and_update_the_panel(fed, hue):
    ts = fed.say("lights")
    answer = fed.wait_for_answer(ts)
    served_by = fed.host_of(answer)
    assert answer["text"].startswith("Lights:\n- dining: off (Hue)")  # typing stays first-class
    assert f"served by {served_by}" in answer["blocks"][0]["text"]["text"]
    button(answer, "dim dining to 50%")  # a Hue light is dimmable ...
    with pytest.raises(AssertionError):
        button(answer, "dim porch to 50%")  # ... a relay is not

    # A relay on pi-2, clicked on a panel another Pi may have posted: its Pi runs it.
    clicked = fed.ws.click(answer["ts"], button(answer, "switch porch on"))
    assert clicked["app"] == served_by  # only the posting app hears the click
    fed.gpio("pi-2").wait_for(17, 1, timeout=15)
    [command] = wait_for(lambda: commands_in(fed, answer["ts"], "switch porch on"), 15,
                         "the clicked command in the panel's thread")
    assert command["metadata"]["event_payload"]["on_behalf_of"] == fed.ws.user["id"]
    wait_for(lambda: "- porch: on" in panel_of(fed, answer["ts"])["text"], 20,
             "the panel edited in place with the new state")
    assert "blocks" in panel_of(fed, answer["ts"])

    # Delivered twice (Slack redelivers when an ack is lost): the toggle runs once.
    fed.ws.duplicate_events(True)
    fed.ws.click(answer["ts"], button(answer, "toggle dining light"))
    wait_for(lambda: "- dining: on" in panel_of(fed, answer["ts"])["text"], 20,
             "the panel to show the dining light on")
    fed.ws.duplicate_events(False)
    wait_for(lambda: not fed.ws.pins(), 10, "the claims to be released")
    assert [(c["attr"], c["new"]) for c in hue.changes()] == [("on", True)]
    assert len(commands_in(fed, answer["ts"], "toggle dining light")) == 1


@pytest.mark.multihost
def test_an_outsiders_click_is_refused_privately_and_runs_nothing(fed, hue):
    ephemerals: list[dict[str, Any]] = []
    fed.ws.add_listener(ephemerals.append, ["ephemeral"])
    mallory = fed.ws.add_user("mallory")
    ts = fed.say("lights")
    answer = fed.wait_for_answer(ts)
    fed.ws.click(answer["ts"], button(answer, "toggle dining light"), user="mallory")
    refusal = wait_for(lambda: ephemerals, 15, "the refusal")[0]
    assert refusal["user"] == mallory["id"]
    assert "you are not allowed to command this house" in refusal["text"]
    assert fed.bot_messages(thread_ts=answer["ts"]) == []  # nothing posted, nothing run
    assert hue.changes() == []


@pytest.mark.multihost
def test_a_panel_whose_pi_is_gone_fails_the_click_and_lights_gives_a_fresh_one(fed, hue):
    answer = fed.wait_for_answer(fed.say("lights"))
    gone = fed.host_of(answer)
    fed.kill(gone)
    wait_for(lambda: fed.ws.connections(gone) == 0, 10, f"{gone}'s connections to close")
    assert fed.ws.click(answer["ts"], button(answer, "toggle dining light"))["delivered"] is False
    fresh = fed.wait_for_answer(fed.say("lights"))
    served_by = fed.host_of(fresh)
    assert served_by != gone and f"served by {served_by}" in str(fresh["blocks"][0])
    assert fed.ws.click(fresh["ts"], button(fresh, "toggle dining light"))["delivered"] is True
    wait_for(lambda: "- dining: on" in panel_of(fed, fresh["ts"])["text"], 20,
             "the fresh panel to show the light on")
    assert [(c["attr"], c["new"]) for c in hue.changes()] == [("on", True)]  # only the live click
    assert fed.bot_messages(thread_ts=answer["ts"]) == []  # the failed click posted nothing


@pytest.mark.multihost
def test_a_scene_has_a_run_button(fed, hue):
    answer = fed.wait_for_answer(fed.say("scenes"))
    assert answer["text"] == "Scenes:\n`evening`: switch dining on"
    fed.ws.click(answer["ts"], button(answer, "scene evening"))
    [command] = wait_for(lambda: commands_in(fed, answer["ts"], "scene evening"), 15,
                         "the clicked scene posted in the panel's thread")
    wait_for(lambda: any(m["text"].startswith("Evening: 1 of 1 done") and m["metadata"][
        "event_payload"]["command_ts"] == command["ts"] for m in fed.bot_messages(
            thread_ts=answer["ts"])), 20, "the scene's answer in the panel's thread")
    assert [(c["light"], c["attr"], c["new"]) for c in hue.changes()] == [("Dining", "on", True)]


@pytest.mark.multihost
def test_the_home_tab_shows_the_house_with_the_same_buttons(fed, hue):
    view = fed.ws.open_home("pi-3")
    shown = str(view["blocks"])
    assert f"as pi-3 sees it (Troupe {troupe.__version__})" in shown
    assert "- dining: off (Hue)" in shown and "`evening`: switch dining on" in shown
    wait_for(lambda: all(f"- {pi}: Troupe {troupe.__version__}" in str(
        fed.ws.open_home("pi-3")["blocks"]) for pi in ("pi-1", "pi-2")), 15,
        "the other Pis and their versions, from their boards")
    view = fed.ws.home_view("pi-3")
    fed.ws.click_home("pi-3", button(view, "toggle dining light"))
    wait_for(lambda: "- dining: on" in str(fed.ws.home_view("pi-3")["blocks"]), 20,
             "the Home tab published again with the light on")
    assert [(c["attr"], c["new"]) for c in hue.changes()] == [("on", True)]
    fed.ws.add_user("mallory")
    refused = str(fed.ws.open_home("pi-1", user="mallory")["blocks"])
    assert "not allowed to command this house" in refused and "button" not in refused


def test_a_click_is_remembered_across_a_restart(tmp_path):
    """The marker: a click redelivered to a restarted Pi is known and not posted again."""
    bot = SimpleNamespace(web=None, name="pi-1", config=SimpleNamespace(state_dir=tmp_path))
    Clicks(bot)._remember("1700000000.123456:U1")
    again = Clicks(bot)  # the next process
    assert not again._first_time_here("1700000000.123456:U1")
    assert again._first_time_here("1700000000.999999:U1")
