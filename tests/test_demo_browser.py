"""The demo page in a real browser: Playwright for Python driving Debian's Chromium, headless.

Saves screenshots to artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import importlib.util
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

    send(page, "roll call")
    expect(page.locator(".msg.kind-pi").filter(has_text="here: version")).to_have_count(2)
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
