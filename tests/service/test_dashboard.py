"""The dashboard in a real browser (Debian's chromium driven by Playwright): the demo's
waterfall chart and its claim row render, and screenshots are taken.

Tests never write into docs/: the screenshots go to a temporary directory, unless
BACKSTOP_SCREENSHOTS names one (`make screenshots` sets it to docs/ to refresh the README's
images, dashboard.png and dashboard-risk-lab.png)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from backstop.api.app import create_app
from backstop.api.cli import FLAGSHIP

from .conftest import Api, make_api

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (make test installs it)"),
]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: BACKSTOP_SCREENSHOTS if set (`make screenshots`), else a temp dir."""
    chosen = os.environ.get("BACKSTOP_SCREENSHOTS")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Api]]:
    import uvicorn

    api = make_api(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'd.db'}", scenario=FLAGSHIP)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(api.service), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", api
    server.should_exit = True
    thread.join(timeout=5)
    api.store.close()


@contextmanager
def _demo_page(served: tuple[str, Api]) -> Iterator[Any]:
    """Headless chromium on the served dashboard with the risk desk's key, once the waterfall
    chart has drawn."""
    from playwright.sync_api import sync_playwright

    url, api = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/#key={api.tokens['risk']}")
        page.wait_for_selector("svg.waterfall rect")
        try:
            yield page
        finally:
            browser.close()


def test_dashboard_shows_the_waterfall_and_the_claim(served: tuple[str, Api], shots: Path) -> None:
    with _demo_page(served) as page:
        # loss-2 (the exploit) is drawn with one bar per layer that paid, the socialized part included
        bars = page.locator('[data-loss="loss-2"] svg.waterfall rect')
        assert bars.count() == 5
        assert page.locator('[data-loss="loss-2"] rect[data-layer="rest"]').count() == 1
        claim = page.locator("#claims tbody tr").first
        assert "clm-1" in claim.inner_text() and "approved" in claim.inner_text()
        assert "34933.333333" in claim.inner_text()
        assert "safety" in page.locator("#layers").inner_text()
        assert page.locator("#error").inner_text() == ""
        page.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    assert (shots / "dashboard.png").stat().st_size > 10_000


def test_dashboard_without_a_key_says_so(served: tuple[str, Api]) -> None:
    from playwright.sync_api import sync_playwright

    url, _ = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function("document.getElementById('meta').textContent.includes('API key')")
        browser.close()


def test_dashboard_runs_a_simulation_and_shows_its_plots(served: tuple[str, Api], shots: Path) -> None:
    """The risk-lab panel: a click starts `POST /v1/simulations`, the headline numbers and the
    per-layer table appear, and the job's HTML report is shown with every figure decoded."""
    with _demo_page(served) as page:
        page.click("#simrun")
        page.wait_for_selector("#simlayers tbody tr", timeout=120_000)
        head = page.locator(".simhead").inner_text()
        assert "P(bad debt)" in head and "P(investors hit)" in head
        layers = page.locator("#simlayers").inner_text()
        assert "stability_pool" in layers and "guarantor" in layers
        page.wait_for_selector("#simreport:not([hidden])", timeout=60_000)
        frame = page.frame_locator("#simreport")
        frame.locator("img").first.wait_for(timeout=60_000)
        imgs = frame.locator("img")
        assert imgs.count() >= 5
        widths = imgs.evaluate_all("els => els.map(e => e.complete ? e.naturalWidth : 0)")
        assert all(w > 0 for w in widths), widths
        assert page.locator("#error").inner_text() == ""
        page.locator("section:has(#sim)").screenshot(path=str(shots / "dashboard-risk-lab.png"))
    assert (shots / "dashboard-risk-lab.png").stat().st_size > 10_000


def _page_as(served: tuple[str, Api], role: str) -> Any:
    """Headless chromium on the dashboard with `role`'s key, once the layers have drawn."""
    from playwright.sync_api import sync_playwright

    url, api = served
    p = sync_playwright().start()
    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/#key={api.tokens[role]}")
    page.wait_for_selector("#layers tbody tr")
    page.wait_for_function("document.getElementById('meta').textContent.includes('commands')")
    return p, browser, page


@pytest.mark.parametrize(
    ("role", "account", "claims", "mine", "sim"),
    [
        ("risk", None, ["clm-1"], False, True),
        ("investor", "inv", ["clm-1"], True, False),
        ("staker", "alice", [], True, False),
        ("assessor", "assessor", ["clm-1"], True, False),
    ],
)
def test_the_dashboard_shows_each_role_what_it_may_see(
    served: tuple[str, Api], role: str, account: str | None, claims: list[str], mine: bool, sim: bool
) -> None:
    """Every role gets the public aggregates and the losses without a 403 on the page; admin and
    risk get every claim, the positions' health and the risk lab; an owner its own account and
    claims; an assessor every claim (docs/service.md, "Reads and roles")."""
    p, browser, page = _page_as(served, role)
    try:
        page.wait_for_selector('[data-loss="loss-2"] svg.waterfall rect')
        assert "safety" in page.locator("#layers").inner_text()
        shown = [r.inner_text().split("\t")[0].strip() for r in page.locator("#claims tbody tr").all()]
        assert shown == claims
        assert page.locator("#mine").is_visible() == mine
        assert page.locator("#simsec").is_visible() == sim
        assert ("positions" in page.locator("#markets tbody").inner_text()) == sim
        if mine:
            page.wait_for_function(f"document.getElementById('mineacct').textContent === {account!r}")
        if role == "staker":
            assert "safety" in page.locator("#mylayers").inner_text()
        if role == "investor":
            assert "pol-1" in page.locator("#mypolicies").inner_text()
        assert page.locator("#error").inner_text() == ""
    finally:
        browser.close()
        p.stop()
