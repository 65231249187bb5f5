"""A waterfall ending in a `deficit` (Aave v3.3): the risk lab reports what reaches that end as the
reserve deficit, not as the investors' socialized loss; the capability is the Vector's
`records_deficit`, not the kind's name."""

from __future__ import annotations

import copy

from backstop.domain.layers.registry import KINDS
from backstop.scenario.loader import load_scenario
from backstop.sim.api import simulate

from .helpers import equivalence_spec


def _summary(end: str) -> dict[str, object]:
    spec = copy.deepcopy(equivalence_spec())
    spec["layers"]["rest"] = {"kind": end}
    return simulate(load_scenario(spec), paths=400, seed=3).summary()


def test_the_deficit_end_is_reported_apart_from_the_socialized_loss() -> None:
    soc, dfc = _summary("socialize"), _summary("deficit")
    # the same worlds: what the socialize end took is what the deficit end records
    assert soc["socialized_mean"] == dfc["deficit_mean"]
    assert float(str(soc["socialized_mean"])) > 0
    assert float(str(dfc["socialized_mean"])) == 0 and dfc["p_socialized"]["value"] == 0  # type: ignore[index]
    assert dfc["p_deficit"] == soc["p_socialized"]
    assert "p_deficit" not in soc and "deficit_mean" not in soc


def test_the_capability_is_declared_by_the_kind() -> None:
    flagged = {name for name, k in KINDS.items() if k.vector().records_deficit}
    assert flagged == {"deficit"}
    assert all(KINDS[n].vector().terminal for n in flagged)
