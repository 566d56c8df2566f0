"""Headless Chromium from Debian's ``chromium`` package, driven by Playwright, for the dashboard tests.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``.ci/run``
installs it with apt). Without it, or without Playwright, the browser tests skip outside CI
and fail in CI. Screenshots go to ``.screenshots/`` at the repository root (gitignored), or to
``OTEL_SCORING_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from support.peers import REPO_ROOT, in_ci

CHROMIUM = Path(os.environ.get("OTEL_SCORING_CHROMIUM") or "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("OTEL_SCORING_SCREENSHOTS") or REPO_ROOT / ".screenshots")
# Without the background-networking flags Chromium calls home (updates, sync, safe browsing).
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
TIMEOUT_MS = 20_000


def _missing(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI must run the browser tests, but {reason}", pytrace=False)
    pytest.skip(reason)


def browser() -> Iterator[Any]:
    """A launched Chromium (a generator for a fixture), closed afterwards."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed (pip install -e '.[test]')")
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _missing(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver (as .ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), timeout=TIMEOUT_MS)
        try:
            yield launched
        finally:
            launched.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
