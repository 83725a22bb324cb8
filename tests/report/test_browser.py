"""report.html in a real browser: Debian's Chromium opens it from disk (file://), with no network."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from eureka.report.html import write_comparison
from tests.report.test_report import _copy

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed (make test installs it)"),
              pytest.mark.e2e]  # a browser: make test, not test-fast


def _open(pw, url: str):
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:80]}"))
    page.goto(url, wait_until="load")
    return browser, page, problems


def test_report_opens_from_disk_in_chromium(run_dir):
    from playwright.sync_api import sync_playwright

    report = run_dir / "report.html"
    with sync_playwright() as pw:
        browser, page, problems = _open(pw, report.resolve().as_uri())
        try:
            sizes = page.eval_on_selector_all("img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth])")
            assert len(sizes) >= 3, sizes  # fitness, final evaluation, components
            assert all(complete and width > 0 for _, complete, width in sizes), sizes
            assert page.locator("#best-code .highlight").is_visible()
            assert "compute_reward" in page.locator("#best-code").inner_text()
            table = page.locator("table#candidates")
            assert table.is_visible()
            assert table.locator("tbody tr").count() == 4
            videos = page.locator("video")
            assert videos.count() >= 1
            src = videos.first.get_attribute("src")
            assert src and src.startswith("data:video/mp4;base64,")
            page.wait_for_function("document.querySelector('video').readyState >= 1", timeout=10_000)
            assert page.evaluate("document.querySelector('video').duration") > 0
            DOCS.mkdir(exist_ok=True)
            page.screenshot(path=str(DOCS / "report.png"), full_page=False)
            page.locator("#best").screenshot(path=str(DOCS / "report-best.png"))
            # sorting by fitness, descending: the selected reward comes first
            header = table.locator("th", has_text="fitness")
            header.click()
            header.click()
            first = table.locator("tbody tr").first.locator("td").first.inner_text()
            assert first.startswith(page.locator("#best h2").inner_text().split(": ", 1)[1])
            header.click()
            assert problems == []
        finally:
            browser.close()


def test_comparison_page_in_chromium(run_dir, tmp_path):
    from playwright.sync_api import sync_playwright

    other = _copy(run_dir, tmp_path, "other_seed")
    out = write_comparison([run_dir, other], tmp_path / "compare.html")
    with sync_playwright() as pw:
        browser, page, problems = _open(pw, out.resolve().as_uri())
        try:
            sizes = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
            assert sizes and all(w > 0 for w in sizes)
            assert page.locator("table#runs tbody tr").count() == 2
            assert problems == []
        finally:
            browser.close()


@pytest.mark.parametrize("kind", ["bimodal", "tie"])
def test_bimodal_and_tie_reports_fit_1400_px_and_are_screenshotted(tmp_path, kind):
    """The result's basis in a real browser: at 1,400 px no sideways scroll; the strip plot of every training
    and the verdict are visible. Screenshots: docs/screenshots/<kind>.png."""
    from playwright.sync_api import sync_playwright

    from eureka.report.html import write_report
    from tests.report.test_result_basis import bimodal_run, tie_run

    run = (bimodal_run if kind == "bimodal" else tie_run)(tmp_path / kind)
    report = write_report(run, tensorboard=False)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 900}, offline=True).new_page()
            page.goto(report.resolve().as_uri(), wait_until="load")
            assert page.evaluate("document.documentElement.scrollWidth") <= 1400
            chosen = page.locator("#chosen")
            assert chosen.is_visible()
            img = chosen.locator("img[alt='every training of the chosen reward']")
            assert img.evaluate("e => e.complete && e.naturalWidth > 0")
            text = chosen.inner_text()
            if kind == "bimodal":
                assert "4 of 7 trainings reached 0.9; 3 ended at 0" in text
            else:
                assert "TIE" in text.upper() and "contains 0.5" in text
            (DOCS / "screenshots").mkdir(parents=True, exist_ok=True)
            chosen.screenshot(path=str(DOCS / "screenshots" / f"{kind}.png"))
        finally:
            browser.close()
