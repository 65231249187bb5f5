"""The risk desk's tables: simulation jobs, the risk profile, alert rules and fired alerts.

Revision ID: 0003_jobs
Revises: 0002_history (0001 until that revision is present)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_jobs"
# This revision follows the history revision ("0002_history"); on a tree without it, it follows
# the initial schema, so the chain is whole either way.
down_revision = "0002_history"
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

    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("rules", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("updated_by", sa.String(40), nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(120), primary_key=True),
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("metric", sa.String(80), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("above", sa.Float, nullable=False),
        sa.Column("state_hash", sa.String(64), nullable=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("delivery", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("alert_rules")
    op.drop_table("risk_profile")
    op.drop_index("jobs_status", "jobs")
    op.drop_table("jobs")
