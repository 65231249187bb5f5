"""The risk desk's tables: simulation jobs and the risk profile.

Revision ID: 0003_jobs
Revises: 0002_history (0001 until that revision is present)
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0003_jobs"
# This revision follows the history revision ("0002_history"); on a tree without it, it follows
# the initial schema, so the chain is whole either way.
down_revision = "0002_history" if any(Path(__file__).parent.glob("0002*.py")) else "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("key_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("state_hash", sa.String(64), nullable=True),
        sa.Column("result", sa.Text, nullable=True),
        sa.Column("report_html", sa.Text, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("jobs_status", "jobs", ["status"])
    op.create_table(
        "risk_profile",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("risk_profile")
    op.drop_index("jobs_status", "jobs")
    op.drop_table("jobs")
