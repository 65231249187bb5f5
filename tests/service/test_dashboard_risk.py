"""The risk desk's live flow in Debian's chromium, on a book the risk lab can simulate live: the
bundled example risk_lab_cdp (one debt asset, LUSD; its guarantor layer g1 is written by
`reinsurer`, 5,000,000 xs 1,000,000 at 3%/year). The demo book (the flagship) has two debt
assets, which the live simulation does not take yet; test_dashboard.py covers the risk desk's
refusals on it.

The risk desk saves the example's own `simulation:` section as the risk profile, adds an alert
rule, simulates the live book twice, and sees the history chart with the alert line and the alert
log, and sizes a layer (a refusal first, with its message on the page); the guarantor sees the
risk lab's fair premium of its layer beside the one it charges; the investor gets a quote and buys
at it. Each test stands alone (`live_run` stores the profile and
runs one live simulation through the API for those that need one).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from backstop.bundled import example_path

from .browser import BROWSER_MARKS, PHONE, chromium, fits, human, login, message, screenshot_dir, serve, shoot
from .conftest import Api, make_api

pytestmark = BROWSER_MARKS

CDP = example_path("risk_lab_cdp")
PROFILE = yaml.safe_load(CDP.read_text())["simulation"]
PATHS = 400


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    api = make_api(f"sqlite:///{tmp_path_factory.mktemp('desk') / 'r.db'}", scenario=CDP)
    yield api
    api.store.close()


@pytest.fixture(scope="module")
def url(book: Api) -> Iterator[str]:
    yield from serve(book)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


@pytest.fixture(scope="module")
def live_run(book: Api) -> dict[str, Any]:
    """The risk profile stored and one finished live simulation (through the API), for the tests
    that need one whichever test ran first; the newest live job."""
    put = book.client.put("/v1/risk/profile", json=PROFILE, headers=book.headers("risk"))
    assert put.status_code == 200, put.text
    job = book.post("/v1/simulations", {"source": "live", "paths": PATHS, "seed": 7}, who="risk").json()
    for _ in range(1200):
        got: dict[str, Any] = book.get(f"/v1/simulations/{job['id']}", who="risk").json()
        if got["status"] not in ("queued", "running"):
            assert got["status"] == "done", got
            return got
        time.sleep(0.1)
    raise AssertionError(f"live simulation {job['id']} did not finish in 120 s")


def _simulate(page: Any, seed: int) -> str:
    page.fill("#sim-form input[name=paths]", str(PATHS))
    page.fill("#sim-form input[name=seed]", str(seed))
    page.click("#simrun")
    page.wait_for_function("document.getElementById('sim-msg').textContent.includes('done')", timeout=180_000)
    text: str = page.locator("#sim-msg").inner_text()
    return text


def test_risk_desk_simulates_the_live_book_and_sees_history_and_alerts(
    book: Api, url: str, browser: Any, shots: Path
) -> None:
    page = login(browser, url, book.tokens["risk"])
    page.set_default_timeout(180_000)
    try:
        page.fill("#profile", json.dumps(PROFILE, indent=2))
        page.click("#profile-form button")
        message(page, "#profile-msg", "risk profile saved")
        page.fill("#rule-form input[name=metric]", "p_bad_debt")
        page.fill("#rule-form input[name=above]", "0.5")
        page.click("#rule-form button")
        message(page, "#rule-msg", "alert rule added")
        before = len(book.get("/v1/risk/history", who="risk").json()["points"])
        done = _simulate(page, 0)
        assert done.startswith("live simulation ") and done.endswith(f"done ({PATHS} paths)"), done
        history = book.get("/v1/risk/history", who="risk").json()["points"]
        assert len(history) == before + 1
        point = history[-1]
        # the page shows the job's own numbers, as percentages
        head = page.locator(".simhead").inner_text()
        assert f"{100 * point['p_bad_debt']['value']:.2f}%" in head, head
        assert "g1" in page.locator("#simlayers").inner_text()
        # the job's HTML report opens in a window of its own, every figure decoded
        with page.expect_popup() as popup:
            page.click("#simreport-link")
        report = popup.value
        report.locator("img").first.wait_for()
        widths = report.locator("img").evaluate_all("els => els.map(e => e.complete ? e.naturalWidth : 0)")
        assert len(widths) >= 5 and all(w > 0 for w in widths), widths
        report.close()
        page.wait_for_selector("#history svg polyline[data-series=p_bad_debt]", state="attached")
        assert page.locator("#history circle.s0").count() == before + 1
        assert page.locator('#history line.alert-line[data-metric="p_bad_debt"]').count() == 1
        # the rule fired if the run's P(bad debt) is above 0.5: one row in the alert log, else none
        fired = point["p_bad_debt"]["value"] > 0.5
        log = page.locator("#alert-log tbody").inner_text()
        assert (point["job"] in log) == fired, (point["p_bad_debt"], log)
        _simulate(page, 1)
        page.wait_for_function(f"document.querySelectorAll('#history circle.s0').length === {before + 2}")
        assert page.locator("#history-table tbody tr").count() == before + 2
        assert len(book.get("/v1/risk/history", who="risk").json()["points"]) == before + 2
    finally:
        page.context.close()


def test_guarantor_sees_the_fair_premium_beside_the_one_charged(
    book: Api, url: str, browser: Any, shots: Path, live_run: dict[str, Any]
) -> None:
    newest = book.get("/v1/risk/history", who="risk").json()["points"][-1]["job"]
    job = book.get(f"/v1/simulations/{newest}", who="risk").json()
    fair = job["result"]["by_layer"]["g1"]["expected_loss_per_year"]
    me = book.get("/v1/me", who="guarantor").json()
    assert me["fair_premiums"]["g1"]["expected_loss_per_year"] == fair  # the newest live run's
    page = login(browser, url, book.tokens["guarantor"], PHONE)
    try:
        assert fits(page)
        row = page.locator("#g-layers tbody tr").inner_text()
        assert f"{human(fair)} LUSD" in row, (fair, row)
        assert "150,000 LUSD" in row  # charged: 3% of the 5,000,000 limit
        assert f"{PATHS} paths" in row
    finally:
        page.context.close()
    shoot(browser, url, book.tokens["guarantor"], shots / "dashboard-guarantor")


def test_investor_gets_a_quote_and_buys_at_it(book: Api, url: str, browser: Any, live_run: dict[str, Any]) -> None:
    """Quote → buy at the quote, on the live book with its risk profile:
    the admin adds a cover pool for the troves market and carol funds it; the investor asks
    `POST /v1/quotes` from the form and buys with `buy_cover` naming the quote."""
    setup = [
        (
            "/v1/layers",
            {
                "id": "mutual",
                "kind": "cover_pool",
                "asset": "LUSD",
                "capacity_ratio_bps": 20000,
                "premium_bps_per_year": 260,
            },
        ),
        ("/v1/deposit", {"layer": "mutual", "account": "carol", "amount": "1000000"}),
    ]
    for path, body in setup:
        r = book.post(path, body)
        assert r.status_code == 200, r.text
    ask = {"pool": "mutual", "market": "troves", "amount": "10000", "period_days": 30, "causes": ["exploit"]}
    probe = book.post("/v1/quotes", ask, who="investor")
    assert probe.status_code == 200, probe.text
    page = login(browser, url, book.tokens["investor"])
    page.set_default_timeout(120_000)
    try:
        page.select_option("#quote-pool", "mutual")
        page.select_option("#quote-market", "troves")
        page.fill("#quote-form input[name=amount]", "10000")
        page.fill("#quote-form input[name=period_days]", "30")
        page.click("#quote-get")
        message(page, "#cover-msg", "quoted: premium")
        quote_id = page.locator("#quote-out .quote").get_attribute("data-quote")
        quote = book.get(f"/v1/quotes/{quote_id}", who="investor").json()
        card = page.locator("#quote-out .quote").inner_text()
        assert f"{human(quote['premium'])} LUSD" in card, (quote["premium"], card)
        for label in ("95% interval", "expected payout", "valid until", "10,000 LUSD on troves for 30 days"):
            assert label in card, (label, card)
        page.click("#buy-quoted")
        bought = message(page, "#cover-msg", "cover bought")
        policies = book.get("/v1/policies", who="investor").json()["items"]
        assert bought == f"cover bought: {policies[-1]['id']}"
        assert policies[-1]["premium"] == quote["premium"]  # the quote's premium was charged
    finally:
        page.context.close()


def _size(page: Any, layer: str, target_p: str, seed: int) -> str:
    page.wait_for_selector(f"#size-layer option[value={layer}]", state="attached")
    page.select_option("#size-layer", layer)
    page.fill("#size-form input[name=target_p]", target_p)
    page.fill("#size-form input[name=paths]", str(PATHS))
    page.fill("#size-form input[name=seed]", str(seed))
    page.click("#sizerun")
    done = message(page, "#size-msg", "done")
    page.wait_for_selector("#sizerun:enabled")  # the page has refreshed after the answer
    return done


def test_risk_desk_sizes_a_layer_and_sees_a_refusal_with_its_message(
    book: Api, url: str, browser: Any, shots: Path, live_run: dict[str, Any]
) -> None:
    """The "size a layer" form: the select offers only the live layers that can be sized (not the
    socialize end `rest`); a target of 1.5 is refused on the page with the API's message and
    makes no job; then g1 (guarantor, limit 5,000,000 LUSD) is sized for P(socialized) ≤ 0.2% on
    400 paths, and the page shows the job's own answer (`GET /v1/sizings/{id}`)."""
    page = login(browser, url, book.tokens["risk"])
    page.set_default_timeout(120_000)
    try:
        page.wait_for_selector("#size-layer option[value=g1]", state="attached")
        offered = page.locator("#size-layer option").evaluate_all("os => os.map(o => o.value)")
        sizable = [x["id"] for x in book.get("/v1/sizings/layers", who="risk").json()["layers"] if x["size_meaning"]]
        assert offered == sizable and "rest" not in offered and "g1" in offered, offered
        jobs = len(book.store.jobs_with_status(("queued", "running", "done", "failed", "cancelled")))
        page.select_option("#size-layer", "g1")
        page.fill("#size-form input[name=target_p]", "1.5")
        page.fill("#size-form input[name=paths]", str(PATHS))
        page.click("#sizerun")
        refused = message(page, "#size-msg", "target_p")
        assert refused == "InvalidConfig: target_p: must be strictly between 0 and 1, got 1.5", refused
        assert page.locator("#size-msg.bad").count() == 1
        assert len(book.store.jobs_with_status(("queued", "running", "done", "failed", "cancelled"))) == jobs
        done = _size(page, "g1", "0.002", 3)
        assert done.startswith("sizing ") and done.endswith(f"done ({PATHS} paths)"), done
        job_id = done.split()[1]
        res = book.get(f"/v1/sizings/{job_id}", who="risk").json()["result"]
        assert res["reached"], res
        answer = page.locator("#size-answer").inner_text()
        assert answer == f"g1 needs {human(res['size'], 0)} LUSD (now {human(res['current_size'])} LUSD)", answer
        assert "now 5,000,000 LUSD" in answer  # the example's guarantor limit
        facts = page.locator("#size-facts").inner_text()
        assert "P(socialized) ≤ 0.20%" in facts and f"{PATHS} paths · seed 3" in facts, facts
        assert res["state_hash"][:10] in facts
        assert page.locator("#size-curve svg polyline[data-series=p_socialized]").count() == 1
        assert page.locator("#size-curve svg circle").count() == len(res["curve"])
        assert page.locator("#size-points tbody tr").count() == len(res["curve"])
        assert fits(page)
    finally:
        page.context.close()
    # the risk desk's screenshots: the history and alerts of the tests above, and this sizing
    shoot(browser, url, book.tokens["risk"], shots / "dashboard-risk", lambda page: _size(page, "g1", "0.002", 3))
