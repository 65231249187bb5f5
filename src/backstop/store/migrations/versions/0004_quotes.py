"""Cover quotes priced by the risk lab (`POST /v1/quotes`, store/quotes.py).

Revision ID: 0004_quotes
Revises: 0003_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backstop.store.schema import Amount

revision = "0004_quotes"
down_revision = "0003_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quotes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("key_id", sa.String(40), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("pool", sa.String(64), nullable=False),
        sa.Column("market", sa.String(64), nullable=False),
        sa.Column("causes", sa.Text, nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("period_days", sa.Integer, nullable=False),
        sa.Column("premium", Amount(), nullable=False),
        sa.Column("premium_low", Amount(), nullable=False),
        sa.Column("premium_high", Amount(), nullable=False),
        sa.Column("expected_payout", Amount(), nullable=False),
        sa.Column("expected_payout_se", sa.Float, nullable=False),
        sa.Column("loading_bps", sa.Integer, nullable=False),
        sa.Column("tolerance_bps", sa.Integer, nullable=False),
        sa.Column("pool_assets", Amount(), nullable=False),
        sa.Column("market_tvl", Amount(), nullable=False),
        sa.Column("paths", sa.Integer, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("valid_until", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("quotes")
