"""Indexes for the sweep of abandoned calls and the purge of old ones.

The sweep looks for calls in progress that have been idle too long, and the
purge for calls that ended before a cut-off; without these each would scan
the whole calls table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_status_updated_at", "calls", ["status", "updated_at"])
    op.create_index("ix_calls_ended_at", "calls", ["ended_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_ended_at", table_name="calls")
    op.drop_index("ix_calls_status_updated_at", table_name="calls")
