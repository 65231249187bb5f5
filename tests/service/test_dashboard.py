"""Every role's desk on the demo book (examples/flagship.yaml), end to end in Debian's chromium:
log in with a key, read what the role owns in human units, act through the forms, and see the
API's refusals on the page.

One server and one browser for the module (per xdist worker). Each test stands alone in any
order on that shared server: what one test changes (the staker's moves time forward; the cover
and claims chain adds policies, incidents and claims) is not what another asserts.
The numbers come from the flagship's story (the comment at the top of examples/flagship.yaml):
alice staked 40,000 USDC in `safety`; the pool paid 18,000 + 12,600 and bob left with 9,800,
so alice holds all 19,600 left (share value 0.49, P&L −20,400); the reinsurer `acme-re` writes
50,000 xs 20,000 at 2%/year, paid 18,504.05 + 50,000 and lost its 30,000 of collateral.
Screenshots of each desk at 1280 and 390 px go to a temporary directory (`make screenshots`: docs/).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backstop.api.cli import FLAGSHIP
from backstop.api.keys import new_key

from .browser import BROWSER_MARKS, PHONE, chromium, fits, human, login, message, screenshot_dir, serve, shoot
from .conftest import Api, make_api

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    api = make_api(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'd.db'}", scenario=FLAGSHIP)
    token, record = new_key("guarantor", "acme-re")  # the flagship's reinsurer (what `serve --demo` keys)
    api.store.add_key(record)
    api.tokens["acme-re"] = token
    yield api
    api.store.close()


@pytest.fixture(scope="module")
def url(demo: Api) -> Iterator[str]:
    yield from serve(demo)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from chromium()


def _text(page: Any, selector: str) -> str:
    text: str = page.locator(selector).inner_text()
    return text


# -- logging in ------------------------------------------------------------------------------------
def test_without_a_key_the_page_asks_for_one_and_a_bad_key_is_refused(url: str, browser: Any) -> None:
    page = browser.new_context().new_page()
    try:
        page.goto(url)
        assert page.locator("#login-sec").is_visible()
        assert not page.locator("#book-sec").is_visible()
        page.fill("#key", "bsk_nope_nope")
        page.click("#login-form button")
        error = message(page, "#error", "refused")
        assert error.startswith("this key was refused (Unauthorized:"), error
        assert page.locator("#login-sec").is_visible()
    finally:
        page.context.close()


@pytest.mark.parametrize(
    ("role", "meta", "sections"),
    [
        ("staker", "staker · alice", ["staker-sec"]),
        ("investor", "investor · inv", ["investor-sec"]),
        ("acme-re", "guarantor · acme-re", ["guarantor-sec"]),
        ("assessor", "assessor · assessor", ["assessor-sec"]),
        ("risk", "risk · risk-desk", ["risk-sec"]),
        ("admin", "admin", ["risk-sec", "assessor-sec"]),
    ],
)
def test_the_key_decides_the_desk(demo: Api, url: str, browser: Any, role: str, meta: str, sections: list[str]) -> None:
    """`GET /v1/me` names the role; the page shows that role's sections and the book, no other."""
    page = login(browser, url, demo.tokens[role])
    try:
        assert _text(page, "#meta").startswith(meta)
        now = demo.get("/v1/me", who=role).json()["now"]  # day 40 (t = 3,456,000 s) until the staker's test moves it
        assert f"engine time day {now // 86_400}" in _text(page, "#meta")
        for sec in ["staker-sec", "investor-sec", "guarantor-sec", "assessor-sec", "risk-sec"]:
            assert page.locator(f"#{sec}").is_visible() == (sec in sections), sec
        assert page.locator('[data-loss="loss-2"] svg.waterfall rect').count() == 5
        assert "120,000 USDC" in _text(page, '[data-loss="loss-2"]')
        health = page.locator("#markets tbody .health svg").count()  # every position's health: admin, risk
        assert health == (2 if role in ("admin", "risk") else 0)
        assert _text(page, "#error") == ""
    finally:
        page.context.close()


# -- guarantor -----------------------------------------------------------------------------------------
def test_guarantor_sees_its_layer_in_human_units(demo: Api, url: str, browser: Any) -> None:
    """(Its screenshot is taken in test_dashboard_risk.py, where the fair premium is known.)"""
    earned = demo.get("/v1/me", who="acme-re").json()["guarantees"]["reinsurer"]["premiums_earned"]
    page = login(browser, url, demo.tokens["acme-re"], PHONE)
    try:
        assert fits(page)
        row = _text(page, "#g-layers tbody tr")
        assert row.startswith("reinsurer")
        for shown in (
            "20,000 USDC",  # attachment
            "50,000 USDC",  # limit
            "68,504.05 USDC",  # paid this year: 18,504.05 + 50,000
            "1,000 USDC",  # premium charged: 2% of 50,000
            "2% of the limit",
            human(earned) + " USDC",  # 82.19 at day 40 (test_me.py); it accrues as time moves
            "0 USDC",  # collateral left
            "of 30,000 USDC posted",
            "no live simulation yet",  # the flagship's two debt assets: no live run on this book
        ):
            assert shown in row, (shown, row)
    finally:
        page.context.close()


# -- risk desk -----------------------------------------------------------------------------------------
def test_risk_desk_refusals_and_alert_rules(demo: Api, url: str, browser: Any) -> None:
    """The live simulation needs a profile (409 naming `source`); a bad profile and a bad rule are
    422s naming the field, shown on the page; a good rule is listed. The live run itself is in
    test_dashboard_risk.py, on a book with one debt asset (the risk lab measures loss in one)."""
    page = login(browser, url, demo.tokens["risk"])
    try:
        assert "No live simulation yet" in _text(page, "#history")
        page.click("#simrun")
        assert message(page, "#sim-msg", "source") == (
            "Conflict: source: a live simulation needs a risk profile; PUT /v1/risk/profile first"
        )
        page.fill("#profile", '{"prices": {"assets": {"ETH": {"vol": -1}}}}')
        page.click("#profile-form button")
        bad = message(page, "#profile-msg", "vol")
        assert "simulation.prices.assets.ETH.vol: volatility must not be negative" in bad, bad
        assert page.locator("#profile-msg.bad").count() == 1
        page.fill("#rule-form input[name=metric]", "p_nonsense")
        page.fill("#rule-form input[name=above]", "0.1")
        page.click("#rule-form button")
        bad_rule = message(page, "#rule-msg", "alerts.0")
        assert "alerts.0.metric" in bad_rule, bad_rule
        page.fill("#rule-form input[name=metric]", "p_bad_debt")
        page.fill("#rule-form input[name=above]", "0.05")
        page.click("#rule-form button")
        message(page, "#rule-msg", "alert rule added")
        page.wait_for_function("document.getElementById('rules').textContent.includes('p_bad_debt > 5.00%')")
        assert demo.get("/v1/risk/alerts", who="risk").json()["rules"] == [{"metric": "p_bad_debt", "above": 0.05}]
    finally:
        page.context.close()


# -- staker --------------------------------------------------------------------------------------------
def test_staker_requests_waits_and_withdraws_and_sees_each_refusal(
    demo: Api, url: str, browser: Any, shots: Path
) -> None:
    page = login(browser, url, demo.tokens["staker"])
    card = '[data-stake="safety"]'
    try:
        text = _text(page, card)
        for shown in (
            "19,600 USDC",
            "0.49 USDC",
            "40,000 USDC",
            "−20,400 USDC",
            "-465.37%",
            "cooldown 10 days, then 2 days to withdraw",
            "no withdrawal requested",
        ):
            assert shown in text, (shown, text)  # APR: −20,400 / 40,000 × 365 / 40 days, truncated
        assert "40000000000000" not in text  # shares are shown as their value
        # withdraw before asking: the engine's refusal, word for word
        page.click(f'{card} button[data-act="withdraw"]')
        assert message(page, "#staker-msg", "Withdraw") == (
            "WithdrawNotAllowed: account: alice must request a withdrawal from safety first"
        )
        page.select_option("#reqw-layer", "safety")
        page.fill("#reqw-form input[name=amount]", "1000")
        page.click("#reqw-form button")
        message(page, "#staker-msg", "withdrawal requested; it opens day 50")
        page.wait_for_function("document.querySelector('[data-stake=safety] .status').textContent.includes('opens in')")
        status = _text(page, f"{card} .status")
        assert status == "cooldown: withdrawal of 1,000 USDC opens in 10 days (day 50)", status
        # withdraw during the cooldown
        page.click(f'{card} button[data-act="withdraw"]')
        assert message(page, "#staker-msg", "opens at") == (
            "WithdrawNotAllowed: at: withdrawal from safety opens at 4320000, it is 3456000"
        )
        page.click(f'{card} button[data-act="cancel"]')
        message(page, "#staker-msg", "cancelled")
        message(page, f"{card} .status", "no withdrawal requested")
        page.fill("#reqw-form input[name=amount]", "1000")
        page.click("#reqw-form button")
        message(page, "#staker-msg", "withdrawal requested")
        # the oracle moves time to the end of the cooldown
        assert demo.post("/v1/advance", {"at": 4_320_000}, who="oracle").status_code == 200
        page.click("#refresh")
        page.wait_for_function("document.querySelector('[data-stake=safety] .status').textContent.includes('is open')")
        assert _text(page, f"{card} .status") == (
            "withdrawal of 1,000 USDC is open; the window closes in 2 days (day 52)"
        )
        page.click(f'{card} button[data-act="withdraw"]')
        message(page, "#staker-msg", "withdrew 1,000 USDC from safety")
        page.wait_for_function("document.querySelector('[data-stake=safety] .big').textContent.startsWith('18,600')")
        assert "1,000 USDC" in _text(page, "#staker-wallet")
        # more decimals than USDC has (6): the API's refusal names the field
        page.select_option("#stake-layer", "safety")
        page.fill("#stake-form input[name=amount]", "1.1234567")
        page.click("#stake-form button")
        assert message(page, "#staker-msg", "decimals") == (
            "InvalidAmount: amount: '1.1234567' has 7 decimals, the asset has only 6"
        )
        page.fill("#stake-form input[name=amount]", "500")
        page.click("#stake-form button")
        message(page, "#staker-msg", "staked 500 USDC in safety")
        page.wait_for_function("document.querySelector('[data-stake=safety] .big').textContent.startsWith('19,100')")
        me = demo.get("/v1/me", who="staker").json()["stakes"]["safety"]
        assert me["value"] == "19100" and me["request"] is None
    finally:
        page.context.close()
    shoot(browser, url, demo.tokens["staker"], shots / "dashboard-staker")


# -- investor ------------------------------------------------------------------------------------------
def _cover_form(page: Any, amount: str, days: int = 90) -> None:
    page.select_option("#quote-pool", "cover")
    page.select_option("#quote-market", "lend")
    page.fill("#quote-form input[name=amount]", amount)
    page.fill("#quote-form input[name=period_days]", str(days))


def test_cover_and_claims_from_purchase_to_decision(demo: Api, url: str, browser: Any, shots: Path) -> None:
    """One chain, one test (each step needs the one before; xdist may run this module's tests on
    two workers, each with its own server): the investor buys cover and files claims, the assessor
    decides them, the investor sees the outcome, and a claim on a voting pool is voted on.
    The admin first funds the insurance fund, so that the new incidents are paid by it and leave
    the staking pool (the staker's test) as the flagship left it."""
    r = demo.post("/v1/deposit", {"layer": "fund", "account": "dao", "amount": "10000"})
    assert r.status_code == 200, r.text
    _investor_buys_and_files(demo, url, browser)
    _assessor_decides(demo, url, browser, shots)
    _assessor_votes(demo, url, browser, shots)


def _investor_buys_and_files(demo: Api, url: str, browser: Any) -> None:
    page = login(browser, url, demo.tokens["investor"])
    try:
        assert "pol-1" in _text(page, "#inv-policies") and "60,000 USDC" in _text(page, "#inv-policies")
        claims = _text(page, "#inv-claims")
        assert "clm-1" in claims and "approved" in claims and "34,933.33 USDC" in claims
        assert "lend" in _text(page, "#inv-positions") and "USDC" in _text(page, "#inv-positions")
        # more cover than the pool can sell: the engine's refusal
        _cover_form(page, "10000")
        page.click("#buy-direct")
        refused = message(page, "#cover-msg", "CoverError")
        assert refused.startswith("CoverError: amount: cover can sell") and "asked 10000 USDC" in refused, refused
        _cover_form(page, "5000")
        page.click("#buy-direct")
        assert message(page, "#cover-msg", "cover bought") == "cover bought: pol-2"
        page.wait_for_function("document.getElementById('inv-policies').textContent.includes('pol-2')")
        row = page.locator("#inv-policies tbody tr", has_text="pol-2").inner_text()
        assert "5,000 USDC" in row and "exploit" in row and "in 90 days" in row, row
        # two exploits after the policy started (the admin reports them)
        for loss in ("1000", "2000"):
            r = demo.post("/v1/incident", {"market": "lend", "asset": "USDC", "amount": loss, "cause": "exploit"})
            assert r.status_code == 200, r.text
        page.click("#refresh")
        page.wait_for_function("document.getElementById('claim-incident').textContent.includes('inc-3')")
        page.select_option("#claim-policy", "pol-2")
        # an incident from before the policy: refused
        page.select_option("#claim-incident", "inc-1")
        page.fill("#claim-form input[name=loss]", "500")
        page.click("#claim-form button")
        pol = demo.get("/v1/policies/pol-2", who="investor").json()  # bought now, for 90 days
        assert pol["end"] - pol["start"] == 90 * 86_400
        assert message(page, "#claim-msg", "Error") == (
            f"ClaimError: policy: pol-2 was not active at 3024000 ({pol['start']}..{pol['end']})"
        )
        page.select_option("#claim-incident", "inc-2")
        page.click("#claim-form button")
        assert message(page, "#claim-msg", "claim filed") == "claim filed: clm-2"
        # a second claim for the same incident: refused
        page.click("#claim-form button")
        assert message(page, "#claim-msg", "Error") == "ClaimError: incident: pol-2 already has claim clm-2 for inc-2"
        page.select_option("#claim-incident", "inc-3")
        page.fill("#claim-form input[name=loss]", "800")
        page.click("#claim-form button")
        assert message(page, "#claim-msg", "claim filed") == "claim filed: clm-3"
        page.wait_for_function("document.getElementById('inv-claims').textContent.includes('clm-3')")
        assert "pending" in page.locator("#inv-claims tbody tr", has_text="clm-2").inner_text()
    finally:
        page.context.close()


# -- assessor ------------------------------------------------------------------------------------------
def _assessor_decides(demo: Api, url: str, browser: Any, shots: Path) -> None:
    token = demo.tokens["assessor"]
    page, stale = login(browser, url, token), login(browser, url, token, PHONE)
    try:
        pending = _text(page, "#pending tbody")
        assert "clm-2" in pending and "clm-3" in pending and "clm-1" not in pending
        assert "clm-1" in _text(page, "#decided")
        assert fits(stale)
        form = page.locator('form.assess[data-claim="clm-2"]')
        form.locator("input[name=reason]").fill("loss verified on-chain")
        form.locator("button[value=approve]").click()
        assert message(page, "#assess-msg", "clm-2") == "clm-2 approved"
        page.wait_for_function("!document.getElementById('pending').textContent.includes('clm-2')")
        assert "approved" in page.locator("#decided tbody tr", has_text="clm-2").inner_text()
        # the other page still lists clm-2: deciding it again is the engine's refusal
        stale.locator('form.assess[data-claim="clm-2"] button[value=approve]').click()
        assert message(stale, "#assess-msg", "already") == "ClaimError: claim: clm-2 is already approved"
        form = page.locator('form.assess[data-claim="clm-3"]')
        form.locator("input[name=reason]").fill("not an exploit of the covered market")
        form.locator("button[value=deny]").click()
        assert message(page, "#assess-msg", "clm-3") == "clm-3 denied"
        page.wait_for_function("document.getElementById('pending').textContent.includes('no pending claims')")
        assert "800 USDC" in page.locator("#decided tbody tr", has_text="clm-3").inner_text()
    finally:
        page.context.close()
        stale.context.close()
    # the claimant sees the outcome
    inv = login(browser, url, demo.tokens["investor"])
    try:
        assert "approved" in inv.locator("#inv-claims tbody tr", has_text="clm-2").inner_text()
        denied = inv.locator("#inv-claims tbody tr", has_text="clm-3").inner_text()
        assert "denied" in denied and "not an exploit of the covered market" in denied
    finally:
        inv.context.close()
    shoot(browser, url, demo.tokens["investor"], shots / "dashboard-investor")


def _assessor_votes(demo: Api, url: str, browser: Any, shots: Path) -> None:
    """Once the assessor stakes in the cover pool, a new claim is a poll (Nexus: 3 days): the queue
    shows the stake for and against and when the poll ends; a vote is counted once."""
    steps = [
        ("/v1/assessor_stake", {"pool": "cover", "account": "assessor", "amount": "1000"}, "assessor"),
        ("/v1/incident", {"market": "lend", "asset": "USDC", "amount": "3000", "cause": "exploit"}, "admin"),
        ("/v1/file_claim", {"policy": "pol-2", "incident": "inc-4", "loss": "700"}, "investor"),
    ]
    for path, body, who in steps:
        r = demo.post(path, body, who=who)
        assert r.status_code == 200, (path, r.text)
    page = login(browser, url, demo.tokens["assessor"])
    try:
        row = page.locator("#pending tbody tr", has_text="clm-4")
        text = row.inner_text()
        poll_end = demo.get("/v1/claims/clm-4", who="assessor").json()["poll_end"]  # filed now, 3-day poll
        assert f"poll ends day {poll_end // 86_400} (in 3 days)" in text, text
        assert "0 USDC for · 0 USDC against" in text, text
        row.locator("input[name=reason]").fill("loss proven on-chain")
        row.locator("button[value=approve]").click()
        assert message(page, "#assess-msg", "clm-4") == "voted to approve clm-4"
        page.wait_for_function("document.getElementById('pending').textContent.includes('you voted')")
        text = page.locator("#pending tbody tr", has_text="clm-4").inner_text()
        assert "1,000 USDC for · 0 USDC against" in text, text
        page.locator('form.assess[data-claim="clm-4"] button[value=deny]').click()
        assert message(page, "#assess-msg", "Error") == "ClaimError: assessor: assessor already voted on clm-4"
    finally:
        page.context.close()
    shoot(browser, url, demo.tokens["assessor"], shots / "dashboard-assessor")


def test_the_human_forms(url: str, browser: Any) -> None:
    """`fmt.js` in the browser: amounts by string arithmetic (never a float), durations, the
    engine's clock (a scenario starts at t = 0) and wall-clock times."""
    page = browser.new_context().new_page()
    try:
        page.goto(url)
        got = page.evaluate(
            """async () => {
              const f = await import('/static/fmt.js');
              return {
                big: f.num('123456789012345678901234.987654'), cut: f.num('34933.339999'), neg: f.num('-20400'),
                negzero: f.num('-0.001'), whole: f.num('1000.000000'), six: f.num('0.332533', 6),
                amt: f.amount('19600', 'USDC'), esc: f.amount('1', '<b>'),
                d1: f.duration(864000), d2: f.duration(90061), d3: f.duration(12000), d4: f.duration(45),
                t0: f.when(3456000), t1: f.when(3459600 + 1800), wall: f.when(1700000000),
                soon: f.relative(4320000, 3456000), ago: f.relative(3283200, 3456000), p: f.pct(0.012345),
              };
            }"""
        )
    finally:
        page.context.close()
    assert got == {
        "big": "123,456,789,012,345,678,901,234.98",  # past 2^53: a float would lose the last digits
        "cut": "34,933.33",  # cut to two decimals, not rounded up
        "neg": "−20,400",
        "negzero": "0",
        "whole": "1,000",
        "six": "0.332533",
        "amt": '<span class="amt" title="19600 USDC">19,600 USDC</span>',
        "esc": '<span class="amt" title="1 &lt;b&gt;">1 &lt;b&gt;</span>',
        "d1": "10 days",
        "d2": "1 day 1 h",
        "d3": "3 h 20 min",
        "d4": "45 s",
        "t0": "day 40",
        "t1": "day 40, 01:30",
        "wall": "2023-11-14 22:13 UTC",
        "soon": "in 10 days",
        "ago": "2 days ago",
        "p": "1.23%",
    }
