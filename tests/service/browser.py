"""What the dashboard's browser tests share: a served app on a real port (uvicorn in a thread,
one per test module), Debian's chromium driven by Playwright (one per module), logging in as a
role, and where screenshots go.

Tests never write into docs/: screenshots go to a temporary directory unless
BACKSTOP_SCREENSHOTS names one (`make screenshots` sets it to docs/).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backstop.api.app import create_app

from .conftest import Api

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
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (make test installs it)"),
]


def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BACKSTOP_SCREENSHOTS if set (`make screenshots`), else a temporary directory."""
    chosen = os.environ.get("BACKSTOP_SCREENSHOTS")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(api: Api) -> Iterator[str]:
    """Run `api`'s app on a free port until the generator is closed; yields its base URL."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(api.service), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def chromium() -> Iterator[Any]:
    """One headless chromium for a module; each test opens its own context (cookies, storage)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def login(browser: Any, url: str, token: str, viewport: dict[str, int] = DESKTOP) -> Any:
    """A fresh page that pastes `token` into the login form and waits for the role's desk."""
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(20_000)
    page.goto(url)
    page.fill("#key", token)
    page.click("#login-form button")
    page.wait_for_function("document.body.dataset.role !== undefined")
    page.wait_for_selector("#layers tbody tr")
    return page


def message(page: Any, selector: str, contains: str) -> str:
    """Wait until the message at `selector` contains `contains` (the API's answer arrived); its text."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            "([s, c]) => (document.querySelector(s)?.textContent || '').includes(c)", arg=[selector, contains]
        )
    except PlaywrightTimeout:
        said = page.locator(selector).inner_text()
        raise AssertionError(f"{selector} never said {contains!r}; it says {said!r}") from None
    text: str = page.locator(selector).inner_text()
    return text


def human(amount: str, places: int = 2) -> str:
    """An exact decimal string as the page shows it (`fmt.js::num`): thousands separators, at
    most `places` decimals (cut, not rounded), no trailing zeros: "34933.333333" -> "34,933.33"."""
    whole, _, frac = amount.lstrip("-").partition(".")
    frac = frac[:places].rstrip("0")
    out = f"{int(whole):,}" + (f".{frac}" if frac else "")
    return ("−" if amount.startswith("-") and out.strip("0.,") else "") + out


def fits(page: Any) -> bool:
    """No horizontal scrolling of the page itself (wide tables scroll inside their own box)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def shoot(browser: Any, url: str, token: str, path_stem: Path, prepare: Any = None) -> None:
    """Screenshots of one role's desk at 1280 px and at 390 px: `<stem>.png`, `<stem>-phone.png`;
    both widths must fit without the page scrolling sideways. `prepare(page)`, if given, acts on
    the page first (e.g. runs a job whose answer only the page holds)."""
    for viewport, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
        page = login(browser, url, token, viewport)
        try:
            if prepare is not None:
                prepare(page)
            assert fits(page), f"{path_stem.name}: the page scrolls sideways at {viewport['width']} px"
            out = path_stem.with_name(path_stem.name + suffix + ".png")
            page.screenshot(path=str(out), full_page=True)
            assert out.stat().st_size > 10_000
        finally:
            page.context.close()
