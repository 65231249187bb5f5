"""The quotes table: cover quotes priced by the risk lab (`POST /v1/quotes`, docs/service.md).

A quote is a row so that it outlives the process: a `buy_cover` that names it is checked against
the stored row (its owner, terms and expiry) after a restart too. Amounts are exact base units
(`Amount`); the row also keeps what the engine will check (the pool's assets and the market's TVL
when quoted, the tolerance), which travel in the command.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table, Text

from .schema import Amount, metadata

quotes = Table(
    "quotes",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("key_id", String(40), nullable=False),
    Column("account", String(200), nullable=False),
    Column("pool", String(64), nullable=False),
    Column("market", String(64), nullable=False),
    Column("causes", Text, nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("period_days", Integer, nullable=False),
    Column("premium", Amount(), nullable=False),
    Column("premium_low", Amount(), nullable=False),
    Column("premium_high", Amount(), nullable=False),
    Column("expected_payout", Amount(), nullable=False),
    Column("expected_payout_se", Float, nullable=False),
    Column("loading_bps", Integer, nullable=False),
    Column("tolerance_bps", Integer, nullable=False),
    Column("pool_assets", Amount(), nullable=False),
    Column("market_tvl", Amount(), nullable=False),
    Column("paths", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    Column("state_hash", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("valid_until", BigInteger, nullable=False),
)


@dataclass(frozen=True)
class QuoteRecord:
    """One stored quote; amounts in base units (premium and payout in the pool's asset, the TVL in
    the market's debt asset), `causes` comma-separated, times unix seconds."""

    id: str
    key_id: str
    account: str
    pool: str
    market: str
    causes: str
    amount: int
    period_days: int
    premium: int
    premium_low: int
    premium_high: int
    expected_payout: int
    expected_payout_se: float
    loading_bps: int
    tolerance_bps: int
    pool_assets: int
    market_tvl: int
    paths: int
    seed: int
    state_hash: str
    created_at: int
    valid_until: int
