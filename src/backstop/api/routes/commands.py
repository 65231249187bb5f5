"""`POST /v1/<verb>`: one route per engine command, and `POST /v1/prices`.

Each route checks the key's role, binds the command to the key's own account where the verb
acts for one, and hands the body to `LiveBuilder`, which reads it with the scenario loader's
rules (docs/service.md).
"""

# No `from __future__ import annotations`: route bodies are built in a loop and FastAPI must
# see the real model classes in the annotations.

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ...domain.commands import Command
from ...engine import Engine
from ...store.base import KeyRecord
from .. import schemas as s
from ..builder import LiveBuilder
from ..errors import Forbidden
from ..quotes import buy_with_quote
from .deps import IdemKey, allow, app_state, caller, run_command

router = APIRouter()

OWNERS = frozenset({"staker", "guarantor", "investor"})
PRICE_ROLES = frozenset({"oracle"})

# verb -> (body model, roles besides admin, how the caller's account binds the command)
VERBS: dict[str, tuple[type[s.Body], frozenset[str], str | None]] = {
    "deposit": (s.DepositBody, OWNERS, "account"),
    "request_withdraw": (s.SharesBody, OWNERS, "account"),
    "cancel_withdraw": (s.CancelBody, OWNERS, "account"),
    "withdraw": (s.SharesBody, OWNERS, "account"),
    "supply": (s.MarketAmountBody, frozenset({"investor"}), "account"),
    "withdraw_supply": (s.MarketAmountBody, frozenset({"investor"}), "account"),
    "open": (s.OpenBody, frozenset({"investor"}), "account"),
    "repay": (s.MarketAmountBody, frozenset({"investor"}), "account"),
    "add_collateral": (s.AddCollateralBody, frozenset({"investor"}), "account"),
    "liquidate": (s.LiquidateBody, frozenset({"risk", "staker", "investor", "guarantor"}), "keeper"),
    "incident": (s.IncidentBody, frozenset(), None),
    "reward": (s.RewardBody, frozenset(), None),
    "advance": (s.AdvanceBody, frozenset({"oracle"}), None),
    "buy_cover": (s.BuyCoverBody, frozenset({"investor"}), "account"),
    "file_claim": (s.FileClaimBody, frozenset({"investor"}), "claimant"),
    "assess_claim": (s.AssessClaimBody, frozenset({"assessor"}), "assessor"),
    "assessor_stake": (s.AssessorStakeBody, frozenset({"assessor"}), "account"),
    "assessor_unstake": (s.AssessorStakeBody, frozenset({"assessor"}), "account"),
    "settle_claim": (s.SettleClaimBody, frozenset({"oracle"}), None),
    "guarantor_defaults": (s.GuarantorDefaultsBody, frozenset(), None),
    "claim_collateral": (s.ClaimCollateralBody, frozenset({"investor"}), "account"),
    "settle_slashing": (s.SettleSlashingBody, frozenset(), None),
    "set_status": (s.SetStatusBody, frozenset(), None),
    "claim_rewards": (s.ClaimRewardsBody, OWNERS, "account"),
    "cover_deficit": (s.CoverDeficitBody, frozenset(), None),
    "fill_auction": (s.FillAuctionBody, frozenset({"risk", "staker", "investor", "guarantor"}), "account"),
}


def bind_account(key: KeyRecord, binding: str | None, payload: dict[str, Any]) -> None:
    """Make a non-admin key act only for its own account.

    `account`: the body must name the key's account. `keeper`, `claimant`, `assessor`: the
    key's account is filled in (an admin key may name anyone; a keeper or assessor defaults
    to the admin key's account).
    """
    if key.role != "admin" and binding is not None:
        if binding == "account":
            if payload.get("account") != key.account:
                raise Forbidden("account", f"account: this key acts only for {key.account!r}")
        else:
            payload.pop("assessor", None)
            payload[binding] = key.account
    elif binding == "keeper" and key.account:
        payload.setdefault("keeper", key.account)
    elif binding == "assessor":
        payload.setdefault("assessor", key.account or "admin")


def add_verb(verb: str, model: type[s.Body], roles: frozenset[str], binding: str | None) -> None:
    """Register `POST /v1/<verb>`, its body read as `model`."""

    def route(
        request: Request,
        body: model,  # type: ignore[valid-type]
        key: KeyRecord = Depends(caller),
        idempotency_key: str = IdemKey,
    ) -> JSONResponse:
        allow(key, roles, verb.replace("_", " "))
        payload = body.model_dump(by_alias=True, exclude_none=True)  # type: ignore[attr-defined]
        bind_account(key, binding, payload)

        def build(engine: Engine) -> Command:
            if verb == "buy_cover" and "quote" in payload:  # checked against the stored quote
                return buy_with_quote(engine, app_state(request).service.store, payload)
            return LiveBuilder(engine).command(verb, payload)

        return run_command(request, key, idempotency_key, f"/v1/{verb}", payload, build)

    route.__name__ = verb
    router.post(f"/v1/{verb}", tags=["commands"], summary=verb.replace("_", " "))(route)


for _verb, (_model, _roles, _binding) in VERBS.items():
    add_verb(_verb, _model, _roles, _binding)


@router.post("/v1/prices", tags=["commands"])
def set_price(
    request: Request, body: s.PriceBody, key: KeyRecord = Depends(caller), idempotency_key: str = IdemKey
) -> JSONResponse:
    allow(key, PRICE_ROLES, "set prices")
    payload = body.model_dump(exclude_none=True)

    def build(engine: Engine) -> Command:
        return LiveBuilder(engine).command("price", payload)

    return run_command(request, key, idempotency_key, "/v1/prices", payload, build)
