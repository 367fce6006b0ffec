"""Headless Chromium for UI tests: Debian's ``chromium`` driven by Playwright (no browser
download). ``make test`` installs chromium when it is missing; without it a test fails
under CI (``CI`` set) and is skipped elsewhere with the command that installs it.

``page`` opens a 1280×800 page, records console errors and uncaught exceptions (a test
fails on any), and keeps a screenshot of what the test saw in ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = os.environ.get("VIGIL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One browser per test module: Playwright's sync API keeps an event loop running in
    this thread while it is open, and tests of other modules call ``asyncio.run``."""
    if not Path(CHROMIUM).exists():
        message = "browser tests need Debian's chromium: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield b
        b.close()


class ConsoleLog:
    def __init__(self) -> None:
        self.errors: list[str] = []
        # Statuses the test itself provokes (e.g. a dashboard that does not exist).
        self.expected: list[re.Pattern[str]] = []

    def expect(self, pattern: str) -> None:
        self.expected.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.expected)]


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def page(browser: Any, console: ConsoleLog, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    pg.on(
        "console",
        lambda m: (
            console.errors.append(f"{m.text} {m.location.get('url', '')}")
            if m.type == "error"
            else None
        ),
    )
    pg.on("pageerror", lambda e: console.errors.append(f"uncaught: {e}"))
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()
    unexpected = console.unexpected()
    assert not unexpected, f"console errors in the page: {unexpected}"
