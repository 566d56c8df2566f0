"""The dashboard in a real browser (Debian's headless Chromium): trends → run → compare, as drawn.

The store is `otel-scoring demo`'s, plus a seeded prompt-change workload (two releases over real
OTLP/gRPC); the dashboard is `otel-scoring ui`, a real subprocess on a free loopback port. Every
request the page makes is recorded: none may leave the dashboard's origin.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
from playwright.sync_api import expect

from otel_scoring import cli
from support import browser as browser_support
from support.dashboard_workload import fill

pytestmark = pytest.mark.slow
TOKEN = "browser-test-token"


def _start_ui(db: Path) -> Tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_scoring", "ui", "--db", str(db), "--port", "0", "--token", TOKEN],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    url = process.stdout.readline().strip()  # the first line is the dashboard's URL
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/ui/\?token=" + TOKEN, url), url
    return process, url


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.communicate(timeout=10)  # waits, and closes its pipes


@pytest.fixture(scope="module")
def chromium():
    yield from browser_support.browser()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Iterator[Tuple[str, List[str]]]:
    db = tmp_path_factory.mktemp("dashboard") / "scores.db"
    assert cli.main(["demo", "--db", str(db)]) == 0
    fill(str(db), runs_per_release=30, shift=0.12, seed=5)
    process, url = _start_ui(db)
    try:
        yield url
    finally:
        _stop(process)


@pytest.fixture
def page(chromium, dashboard):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(browser_support.TIMEOUT_MS)
    origin = dashboard.split("/ui/")[0]
    requests: List[str] = []
    errors: List[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(dashboard)  # ?token= once: kept in a cookie, dropped from the address
    yield page
    context.close()
    assert errors == []
    assert [url for url in requests if not url.startswith(origin + "/") and not url.startswith("data:")] == []


def test_trends_then_a_run_then_a_comparison_show_the_stored_figures(page, capsys):
    """Each score's trend card shows its figures; a run shows scores (late ones marked) and metadata by kind; compare says degraded."""
    assert "token" not in page.url
    page.wait_for_selector("[data-testid=trend]")
    names = page.locator("[data-testid=trend] h2").all_inner_texts()
    assert {"guardrail-pass", "model-confidence", "tone", "resolved", "user-feedback", "helpfulness", "correct"} <= set(names)
    feedback = page.locator("[data-testid=trend][data-name=user-feedback]")
    # The demo's three feedback scores are 5, 2 and 4 stars: mean 3.667 over 3 scores.
    assert feedback.locator("[data-figure=mean] b").inner_text() == "3.667"
    assert feedback.locator("[data-figure=count] b").inner_text() == "3"
    tone = page.locator("[data-testid=trend][data-name=tone]")
    assert tone.locator("[data-figure=friendly]").count() == 1 and tone.locator("svg rect").count() >= 2
    shot = browser_support.screenshot(page, "1-trends")

    page.click("nav a[data-tab=runs]")
    page.fill("input[name=q]", "handle-ticket")  # the demo's runs, by their name
    page.click("form.filters button")
    # Wait for the filtered list itself: the unfiltered one drawn before the search also has rows,
    # and is redrawn (empty for a moment) when the search's answer arrives.
    expect(page.locator("[data-testid=run-row]")).to_have_count(3, timeout=15_000)
    browser_support.screenshot(page, "2-runs")
    page.locator("[data-testid=run-row]").first.click()
    page.wait_for_selector("[data-testid=scores]")
    scores = page.locator("[data-testid=score-row]")
    assert set(scores.locator("td:first-child").all_inner_texts()) >= {"model-confidence", "guardrail-pass", "tone", "resolved", "user-feedback"}
    assert page.locator("[data-testid=score-row][data-name=user-feedback] .badge.late").count() == 1
    assert page.locator("[data-testid=score-row][data-name=model-confidence] .badge.late").count() == 0
    titles = page.locator("[data-testid=metadata-section] h3").all_inner_texts()
    assert titles == sorted(titles) and {"User Metadata (ticket)", "User Metadata (llm)", "User Metadata (workflow)"} <= set(titles)
    ticket = page.locator("[data-testid=metadata-section][data-kind=ticket]")
    assert ticket.locator("dt").all_inner_texts() == ["customer", "ticketId"]  # keys sorted
    assert "run scope" in ticket.inner_text()
    assert re.fullmatch("[0-9a-f]{32}", page.locator("[data-testid=trace-id]").inner_text())
    browser_support.screenshot(page, "3-run")

    page.click("nav a[data-tab=compare]")
    page.select_option("select[name=name]", "helpfulness")
    page.wait_for_selector("select[name=baseline]")
    page.select_option("select[name=by]", "service.version")
    expect(page).to_have_url(re.compile(r"#/compare\?name=helpfulness&by=service\.version$"))
    verdict = page.locator("[data-testid=verdict]")
    # A verdict of the view drawn before the last choice may show first: wait for this one's.
    expect(verdict).to_have_attribute("data-verdict", "degraded", timeout=15_000)
    assert "95% CI [" in verdict.inner_text() and "Welch's t interval" in verdict.inner_text()
    assert page.locator("[data-testid=side-baseline] h2").inner_text() == "baseline: 1.0.0"
    assert page.locator("[data-testid=side-candidate] h2").inner_text() == "candidate: 1.1.0"
    assert page.locator("[data-testid=side-baseline] [data-figure=n] b").inner_text() == "30"
    assert page.locator("svg .bar-candidate").count() > 0
    last = browser_support.screenshot(page, "4-compare")
    with capsys.disabled():
        print(f"\ndashboard screenshots: {shot.parent} ({shot.name} .. {last.name})")


def test_an_unchanged_split_and_lower_is_better_change_the_verdict(page):
    """Split by the environment both releases share, compare says so; lower-is-better turns the drop into an improvement."""
    page.goto(page.url.split("#")[0] + "#/compare?name=helpfulness&by=deployment.environment")
    page.wait_for_selector("[data-testid=empty]")
    assert "has 1 value" in page.locator("[data-testid=empty]").inner_text()
    page.goto(page.url.split("#")[0] + "#/compare?name=helpfulness&by=metadata.prompt.version")
    page.wait_for_selector("[data-testid=verdict][data-verdict=degraded]")
    page.check("input[name=lower_is_better]")
    page.click("[data-testid=compare-button]")
    page.wait_for_selector("[data-testid=verdict][data-verdict=improved]")
    browser_support.screenshot(page, "5-compare-lower-is-better")


def test_an_empty_store_says_so_on_every_page(chromium, tmp_path):
    """A store with no scores shows a message that says how to fill it, not empty charts."""
    db = tmp_path / "empty.db"
    from otel_scoring.store import ScoreStore

    ScoreStore(db).close()
    process, url = _start_ui(db)
    try:
        context = chromium.new_context()
        page = context.new_page()
        page.set_default_timeout(browser_support.TIMEOUT_MS)
        page.goto(url)
        for tab in ("trends", "runs", "compare"):
            page.click(f"nav a[data-tab={tab}]")
            page.wait_for_selector("[data-testid=empty]")
            assert "No scores in this store yet" in page.locator("[data-testid=empty]").inner_text()
        browser_support.screenshot(page, "6-empty")
        context.close()
    finally:
        _stop(process)
