"""`backstop simulate --report out.html`: one self-contained file whose every figure decodes in a
real browser (Debian's chromium driven by Playwright, as tests/service/test_dashboard.py does)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backstop.cli import app

from .helpers import CDP

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    args = ["simulate", str(CDP), "--paths", "1500", "--seed", "1", "--horizon-days", "120", "--report", str(out)]
    result = CliRunner().invoke(app, [*args, "--size-layer", "fund", "--target-p", "0.005"])
    assert result.exit_code == 0, result.output
    assert f"report written to {out}" in result.output
    return out


@pytest.mark.slow  # a simulation plus matplotlib figures
def test_report_is_self_contained(report: Path) -> None:
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>")
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', html)
    assert len(srcs) >= 6  # loss, by layer, exhaustion, staker APR, price paths, sizing curve
    assert all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in html and "https://" not in html and "<script" not in html
    for needle in ("P(bad debt)", "P(socialized loss &gt; 0)", "VaR99", "stake", "g1", "Sizing curve"):
        assert needle in html, needle


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (make test installs it)")
def test_every_figure_decodes_in_chromium(report: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            widths = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            assert len(widths) >= 5
            assert all(w > 0 for w in widths), widths
            assert page.locator("figure").count() == len(widths)
            assert page.locator("table").count() >= 3
        finally:
            browser.close()


@pytest.mark.slow  # a simulation plus matplotlib figures
def test_report_builds_when_a_layer_is_never_exhausted() -> None:
    """Regression: on a short horizon some layer's P(exhausted) is 0, and its Wilson lower bound
    came out a rounding error above 0, which matplotlib refuses as a negative error bar."""
    from backstop.sim.api import simulate
    from backstop.sim.report import build_report

    res = simulate(CDP, paths=300, horizon_days=30, seed=4)
    html = build_report(res)
    assert len(re.findall(r"<img ", html)) >= 5
