"""Calls in progress found by an index that a step leaves alone.

``ix_calls_status_updated_at`` changed with every step (each one moves
``updated_at``), so every step rewrote an index entry besides its row, and on
PostgreSQL no step could be a heap-only update.  The sweep and the dashboard
only ever look among the calls in progress, so a partial index of those, on a
column a step never writes, serves them and costs a step nothing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

IN_PROGRESS = sa.text("status = 'in-progress'")


def upgrade() -> None:
    op.drop_index("ix_calls_status_updated_at", table_name="calls")
    op.create_index(
        "ix_calls_in_progress", "calls", ["started_at"], sqlite_where=IN_PROGRESS, postgresql_where=IN_PROGRESS
    )


def downgrade() -> None:
    op.drop_index("ix_calls_in_progress", table_name="calls")
    op.create_index("ix_calls_status_updated_at", "calls", ["status", "updated_at"])
