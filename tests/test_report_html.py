"""The HTML report of a real run, opened in headless Chromium: every chart has its data points
(each with a tooltip), the page logs no error and fetches nothing, and a full-page screenshot is
saved for people to look at: in the test's folder, and to ``docs/images/report.png`` (the one the
README shows) when ``PROMPT_TUNER_UPDATE_DOCS_IMAGES=1`` is set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import Store, load_run
from tests.fakes.tuned_run import TunedRun, shared_run

CHROMIUM = Path("/usr/bin/chromium")
DOCS_IMAGE = Path(__file__).resolve().parents[1] / "docs" / "images" / "report.png"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason=f"no Chromium at {CHROMIUM} to render the report in")


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TunedRun]:
    with shared_run(tmp_path_factory) as run:
        yield run


def expected_points(tuned: TunedRun) -> dict[str, int]:
    """How many data points each chart must draw, counted from the stored run."""
    store = Store(tuned.store)
    try:
        view = load_run(store, tuned.run_id)
        metrics = len(view.metric_breakdown(store))
    finally:
        store.close()
    scored = [c for c in view.candidates if c.dev is not None]
    held = [c for c in view.candidates if c.test is not None]
    return {
        "rounds": len(view.rounds) + 2,  # and the held-out scores of the original and the winner
        "leaderboard": len(scored) + len(held),
        "pareto": len([c for c in scored if c.status != "partial"]),
        "metrics": 2 * metrics,
        "lineage": len(view.candidates),
        "cost": len(view.rounds) + 1,  # and the held-out check
        "clusters": len(scored),  # the map of candidates by meaning
    }


def test_the_html_report_renders_in_chromium_with_every_chart_and_no_errors(
    tuned: TunedRun, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    report = tuned.runs / tuned.run_id / "report.html"
    screenshot = tmp_path / "report.png"
    want = expected_points(tuned)
    assert want["metrics"] == 4 and want["lineage"] == 5  # label and exact; five prompts
    errors: list[str] = []
    fetched: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda r: fetched.append(r.url))
            page.goto(report.as_uri(), wait_until="load")
            got = {name: page.locator(f'svg[data-chart="{name}"] .pt').count() for name in want}
            untitled = page.evaluate("""() => [...document.querySelectorAll('svg[data-chart] .pt')]
                .filter(p => !p.querySelector('title') || !p.querySelector('title').textContent)
                .length""")
            overflow = page.evaluate("document.documentElement.scrollWidth")
            baseline = page.locator(".verdict p.baseline")
            baseline_text = baseline.inner_text() if baseline.is_visible() else ""
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert fetched == [report.as_uri()]  # self-contained: nothing else was requested
    assert got == want
    assert untitled == 0  # every data point has a tooltip
    assert overflow <= 1280  # nothing pushes the page sideways
    # the verdict names what a label task's winner must beat: chance and the majority label
    assert baseline_text.startswith("Baselines on held-out examples: chance 50% (2 answers) · "
                                    "always answering negative, the most frequent train answer")
    assert screenshot.stat().st_size > 50_000
    if os.environ.get("PROMPT_TUNER_UPDATE_DOCS_IMAGES") == "1":
        DOCS_IMAGE.write_bytes(screenshot.read_bytes())
