"""Fixtures for the slackmq tests: the Slack emulator (127.0.0.1 only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from troupe.sim.slack import SlackWorkspace


@pytest.fixture(scope="module")
def ws16() -> Iterator[SlackWorkspace]:
    """A shared 16-app workspace. Tests use fresh messages, so they do not interfere."""
    with SlackWorkspace(apps=16, rate_limits="off", latency_ms=0) as ws:
        yield ws


@pytest.fixture
def ws() -> Iterator[SlackWorkspace]:
    """A fresh 4-app workspace, for tests that inject faults or change latency."""
    with SlackWorkspace(apps=4, rate_limits="off", latency_ms=0) as w:
        yield w
