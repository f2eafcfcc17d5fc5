"""The demo page in a real browser: Playwright for Python driving Debian's Chromium, headless.

Saves screenshots to artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from troupe.demo.testing import DemoProcess

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.multihost,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install "
                              "chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="needs Playwright for Python (pip install playwright)"),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                     headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with DemoProcess(hosts=3, workdir=tmp_path_factory.mktemp("demo")) as running:
        yield running


def send(page, text: str) -> str:
    """Type `text` in the box as the person; the ts of the message it became."""
    mine = page.locator("li.msg[data-kind=person]").filter(has_text=text)
    before = mine.count()
    page.fill("#say", text)
    page.press("#say", "Enter")
    new = mine.nth(before)  # not an earlier message with the same text
    new.wait_for()
    return new.get_attribute("data-ts")


def test_type_a_command_kill_a_pi_and_keep_going(browser, demo):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1360, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(demo.url)
    expect(page.locator(".pi[data-state=online]")).to_have_count(3, timeout=30_000)
    expect(page.locator("#summary")).to_contain_text("3 of 3 Pis online")
    dining = page.locator("[data-light=dining]")
    expect(dining).to_have_attribute("data-on", "false")

    ts = send(page, "toggle dining light")
    command = page.locator(f'li.msg[data-ts="{ts}"]')
    expect(command.locator(".step.done")).to_have_count(1, timeout=20_000)  # marked done ...
    expect(command).not_to_have_attribute("data-pinned", "true")  # ... and unpinned
    answers = page.locator(f'li.msg[data-reply-to="{ts}"]')
    expect(answers).to_have_count(1)
    expect(answers).to_contain_text("The dining light is on")
    expect(dining).to_have_attribute("data-on", "true")
    first = answers.get_attribute("data-author")

    page.locator(f'[data-pi="{first}"] [data-action=kill]').click()
    expect(page.locator(f'[data-pi="{first}"]')).to_have_attribute("data-state", "offline")
    expect(page.locator("#summary")).to_contain_text("2 of 3 Pis online")

    ts = send(page, "toggle dining light")
    command = page.locator(f'li.msg[data-ts="{ts}"]')
    expect(command.locator(".step.done")).to_have_count(1, timeout=20_000)
    answers = page.locator(f'li.msg[data-reply-to="{ts}"]')
    expect(answers).to_have_count(1)
    expect(answers).to_contain_text("The dining light is off")
    assert answers.get_attribute("data-author") not in (first, None)
    expect(dining).to_have_attribute("data-on", "false")

    send(page, "roll call")  # one answer for the house, a line per Pi
    expect(page.locator(".msg.kind-pi").filter(has_text="Roll call: 3 Pis")).to_have_count(1)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo.png"))
    assert errors == []


def test_the_page_works_at_phone_width(browser, demo):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(demo.url)
    expect(page.locator("#chat")).to_be_visible()
    expect(page.locator("#say")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide at phone width"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-phone-chat.png"))
    page.click("[data-show=pis]")
    expect(page.locator(".pi").first).to_be_visible()
    expect(page.locator("#chat")).to_be_hidden()
    page.screenshot(path=str(ARTIFACTS / "demo-phone-pis.png"))
    page.click("[data-show=house]")
    expect(page.locator("[data-light=dining]")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "demo-phone-house.png"))


WIDE = {"width": 1400, "height": 950}


def all_online(page) -> None:
    """Start any Pi an earlier test left off, and wait for every one to be online."""
    from playwright.sync_api import expect

    for card in page.locator(".pi[data-state=offline]").all():
        card.locator("[data-action=restart]").click()
    expect(page.locator(".pi[data-state=online]")).to_have_count(3, timeout=30_000)


def inside(inner: dict, outer: dict, slack: float = 0.5) -> bool:
    return (inner["x"] >= outer["x"] - slack and inner["y"] >= outer["y"] - slack
            and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
            and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack)


def test_at_1400x950_everything_fits_and_the_log_shows_without_scrolling(browser, demo):
    from playwright.sync_api import expect

    page = browser.new_page(viewport=WIDE)
    page.goto(demo.url)
    all_online(page)
    send(page, "roll call")
    expect(page.locator("#activity li").first).to_be_visible()
    screen = {"x": 0, "y": 0, **WIDE}
    assert page.evaluate("[document.documentElement.scrollWidth, "
                         "document.documentElement.scrollHeight]") == [1400, 950]
    log, activity = page.locator("#log").bounding_box(), page.locator("#activity").bounding_box()
    assert inside(log, screen), f"the log is at {log}, outside the 1400x950 window"
    assert activity["height"] >= 150, activity  # a few entries, scrolling inside
    hints = page.locator("#hints")
    assert hints.evaluate("h => h.scrollWidth <= h.clientWidth")
    assert page.locator("#hints .chip").count() >= 8
    for chip in page.locator("#hints .chip").all():  # wrapped onto rows, none cut off
        assert inside(chip.bounding_box(), hints.bounding_box()), chip.text_content()
    rows = page.locator(".pi-actions, .trap, .update, .light, .sensor")
    for row in rows.all():  # no row of buttons runs over its card
        assert row.evaluate("r => r.scrollWidth <= r.clientWidth"), row.text_content()
        box = row.bounding_box()
        assert inside(box, screen), (row.text_content(), box)
        for button in row.locator("button").all():
            assert inside(button.bounding_box(), box), button.text_content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-1400x950.png"))


def test_a_dead_claimers_lease_runs_out_on_the_page_then_another_pi_takes_over(browser, demo):
    from playwright.sync_api import expect

    page = browser.new_page(viewport=WIDE)
    page.goto(demo.url)
    all_online(page)
    page.locator("#hints .chip.danger").click()  # arms the trap, sends "toggle dining light"
    claim = page.locator(".step.claim.live .step-text")
    expect(claim).to_contain_text("no word for", timeout=15_000)
    victim = page.locator(".pi[data-state=offline]")
    expect(victim).to_have_count(1)
    name = victim.get_attribute("data-pi")
    expect(claim).to_have_text(re.compile(rf"^{name} claimed it · no word for \d+ s · "
                                          r"lease ends in [1-6] s$"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-lease.png"))
    first = int(re.search(r"ends in (\d) s", claim.text_content()).group(1))
    if first > 1:  # the count goes down while nothing else happens
        expect(claim).to_contain_text(f"lease ends in {first - 1} s", timeout=3_000)
    expect(page.locator(".step.interrupted")).to_have_count(1, timeout=20_000)  # taken over
    # A killed Pi stays off, and its card says so and how to bring it back.
    expect(victim.locator(".pi-state")).to_contain_text("stays off until you press Start")
    expect(victim.locator("[data-action=restart]")).to_have_text("Start")
    victim.locator("[data-action=restart]").click()
    expect(page.locator(f'.pi[data-pi="{name}"]')).to_have_attribute("data-state", "online",
                                                                    timeout=30_000)
    restart = page.locator(f'.pi[data-pi="{name}"] [data-action=restart]')
    expect(restart).to_have_text("Restart")
    expect(restart).to_have_attribute("title", re.compile("SIGTERM"))


def test_an_update_shows_each_pis_step_and_its_button_goes_once_done(browser, demo):
    from playwright.sync_api import expect

    page = browser.new_page(viewport=WIDE)
    page.goto(demo.url)
    all_online(page)
    button = page.locator("#update button.primary")
    if not button.count():
        pytest.skip("the update plugin is not in this tree")
    command = button.text_content()
    newer = command.removeprefix("update to v")
    expect(page.locator("#hints .chip").filter(has_text=command)).to_have_count(1)
    button.click()
    steps = page.locator(".pi .pi-step")
    expect(steps).to_have_count(3, timeout=15_000)  # every card says what its Pi is doing
    expect(page.locator("#update")).to_contain_text("Update under way")  # no second click
    expect(steps.filter(has_text=f"v{newer}")).to_have_count(3)  # preparing v..., ready ...
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-update.png"))
    expect(page.locator(".pi .version").filter(has_text=f"v{newer}")).to_have_count(
        3, timeout=120_000)
    expect(page.locator("#update")).to_contain_text(f"Every Pi runs {newer}")
    expect(page.get_by_role("button", name=command)).to_have_count(0)  # no button, no chip
    expect(steps).to_have_count(0, timeout=20_000)  # the summary closes the steps


def test_buttons_on_an_answer_and_on_a_pis_home_tab_switch_the_light(browser, demo):
    """Issue 15: `lights` answers with buttons; clicking one switches the light (only the Pi
    that posted the panel hears the click, and posts the command); each Pi has a Home tab
    with the same buttons."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1360, "height": 860})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(demo.url)
    expect(page.locator(".pi[data-state=online]")).to_have_count(3, timeout=30_000)
    lounge = page.locator("[data-light=lounge]")
    before = lounge.get_attribute("data-on")
    after = "false" if before == "true" else "true"

    ts = send(page, "lights")
    panel = page.locator(f'li.msg[data-reply-to="{ts}"]')
    expect(panel).to_contain_text("served by", timeout=20_000)
    toggle = panel.locator(".block-buttons").filter(has=page.locator("text=25%")).nth(0)
    expect(toggle).to_be_visible()
    lounge_row = panel.locator(".blocks > .text", has_text="lounge")
    assert lounge_row.count() == 1
    # The lounge's buttons follow its line: Toggle is the first of them.
    buttons = panel.locator(".blocks > *")
    index = [buttons.nth(i).inner_text() for i in range(buttons.count())].index(
        lounge_row.inner_text())
    buttons.nth(index + 1).locator("button", has_text="Toggle").click()
    expect(lounge).to_have_attribute("data-on", after, timeout=20_000)
    expect(panel.locator(".blocks > .text", has_text="lounge")).to_contain_text(
        "on" if after == "true" else "off", timeout=20_000)  # the panel edited in place

    pi = panel.get_attribute("data-author")
    page.locator(f'[data-pi="{pi}"] [data-action=home]').click()
    home = page.locator(f'#home[data-pi="{pi}"]')
    expect(home).to_contain_text(f"as {pi} sees it", timeout=20_000)
    expect(home).to_contain_text("Pis of this house")
    rows = home.locator(".blocks > *")
    texts = [rows.nth(i).inner_text() for i in range(rows.count())]
    lounge_at = next(i for i, t in enumerate(texts) if t.startswith("- lounge"))
    rows.nth(lounge_at + 1).locator("button", has_text="Toggle").click()
    expect(lounge).to_have_attribute("data-on", before, timeout=20_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-buttons.png"))
    assert errors == []
