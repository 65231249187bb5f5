"""`POST /v1/layers` for a mint layer with debt auctions: the options arrive as the kind's own
fields, and bad values are refused with a 4xx naming the field, the state unchanged."""

from __future__ import annotations

import pytest

from .conftest import Api, make_api


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Api:
    a = make_api(f"sqlite:///{tmp_path_factory.mktemp('mint') / 'm.db'}")
    r = a.post("/v1/assets", {"symbol": "GOVX", "decimals": 18})
    assert r.status_code < 300, r.text
    return a


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"lot": 0}, "lot"), ({"lot": 10, "auction_delay_seconds": -1}, "auction_delay_seconds")],
)
def test_bad_debt_auction_options_are_refused(api: Api, extra: dict[str, int], field: str) -> None:
    before = api.service.state_hash()
    r = api.post("/v1/layers", {"id": "flopx", "kind": "mint", "asset": "GOVX", **extra})
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["field"] in (field, f"mint.{field}")  # the body's path names the kind
    assert api.service.state_hash() == before


def test_a_mint_layer_with_debt_auctions_is_added(api: Api) -> None:
    r = api.post(
        "/v1/layers", {"id": "flopy", "kind": "mint", "asset": "GOVX", "lot": 50000, "auction_delay_seconds": 172800}
    )
    assert r.status_code < 300, r.text
    config = api.service.engine.state.layers["flopy"].config  # type: ignore[attr-defined]
    assert (config.lot, config.auction_delay_seconds) == (50000, 172800)
