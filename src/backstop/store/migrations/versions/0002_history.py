"""History in the store: a hash chain over the events, and state snapshots.

Adds `events.hash` (SHA-256 of the previous row's hash and this event's canonical encoding,
docs/reliability.md) and computes it for every row a store of revision 0001 already holds, in
seq order, streamed in pages; then makes it NOT NULL. Adds the `snapshots` table.

Revision ID: 0002_history
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backstop.store.base import GENESIS, StoredEvent, event_hash

revision = "0002_history"
down_revision = "0001"
branch_labels = None
depends_on = None

PAGE = 5000


def upgrade() -> None:
    op.add_column("events", sa.Column("hash", sa.String(64), nullable=True))
    conn = op.get_bind()
    events = sa.table(
        "events",
        sa.column("seq", sa.BigInteger),
        sa.column("at", sa.BigInteger),
        sa.column("kind"),
        sa.column("data"),
        sa.column("hash"),
    )
    prev, after = GENESIS, -1
    while True:
        rows = conn.execute(
            sa.select(events.c.seq, events.c.at, events.c.kind, events.c.data)
            .where(events.c.seq > after)
            .order_by(events.c.seq)
            .limit(PAGE)
        ).all()
        if not rows:
            break
        updates = []
        for r in rows:
            prev = event_hash(prev, StoredEvent(int(r.seq), int(r.at), r.kind, r.data))
            updates.append({"s": int(r.seq), "h": prev})
        conn.execute(events.update().where(events.c.seq == sa.bindparam("s")).values(hash=sa.bindparam("h")), updates)
        after = int(rows[-1].seq)
    with op.batch_alter_table("events") as batch:
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
    op.create_table(
        "snapshots",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("commands", sa.BigInteger, nullable=False),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("fmt", sa.String(20), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("blob", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("snapshots")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("hash")
