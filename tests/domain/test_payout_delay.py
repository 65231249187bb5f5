"""`cover.payout_delay_seconds`, the time the risk lab waits before paying a voted claim, against
the engine itself: a claim filed and accepted at once can be settled exactly that long after
filing and not a second earlier (Nexus v2.12.4: 3-day vote + 1-day payout cooldown; a voting
period shorter than the silent ending is extended by it), and a single-assessor pool pays at
once."""

from __future__ import annotations

import pytest

from backstop.domain import commands as c
from backstop.domain.cover import payout_delay_seconds
from backstop.domain.errors import ClaimError

from .helpers import DAY
from .test_nexus_claims import claim, file, pool, refused, stake, vote, world

FILED = 2 * DAY
HOUR = 3_600


@pytest.mark.parametrize(
    ("options", "want"),
    [
        ({}, 3 * DAY + DAY),  # Assessment.sol MIN_VOTING_PERIOD + IndividualClaims PAYOUT_COOLDOWN
        ({"voting_seconds": 12 * HOUR}, 12 * HOUR + DAY + DAY),  # + the whole silent ending
        ({"voting_seconds": 2 * DAY, "payout_cooldown_seconds": 0}, 2 * DAY),
    ],
    ids=["nexus", "short-vote", "no-cooldown"],
)
def test_a_voted_claim_settles_exactly_after_the_delay(options: dict[str, int], want: int) -> None:
    e = world(**options)
    stake(e, ann=1_000)
    assert payout_delay_seconds(pool(e)) == want
    file(e, at=FILED)
    vote(e, FILED, "ann")
    refused(e, c.SettleClaim(FILED + want - 1, "clm-1"), ClaimError, "at")
    e.apply(c.SettleClaim(FILED + want, "clm-1"))
    assert claim(e).status == "approved" and claim(e).paid > 0


def test_a_single_assessor_pool_pays_at_once() -> None:
    e = world()
    assert payout_delay_seconds(pool(e)) == 0
    file(e, at=FILED)
    vote(e, FILED, "ann")
    assert claim(e).status == "approved" and claim(e).paid > 0
