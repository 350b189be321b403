"""A call's newest events kept in its row: the ``trail`` column.

A step used to insert its event as a ``call_events`` row, which put an entry
in the events' index by CallSid: a second page, anywhere in that index,
written by every step besides the call's own.  The events now wait in the
call's row and go out as rows together (see :mod:`ivr.storage.trail`).
Existing calls start with an empty trail: their events are rows already.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("trail", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    # Events still waiting in a trail would go with the column: write them out as rows first.
    from ivr.storage.base import UtcDateTime
    from ivr.storage.trail import events_of

    calls = sa.table("calls", sa.column("call_sid", sa.String), sa.column("trail", sa.Text))
    events = sa.table(
        "call_events",
        sa.column("call_sid", sa.String),
        sa.column("seq", sa.Integer),
        sa.column("at", UtcDateTime()),
        sa.column("kind", sa.String),
        sa.column("node", sa.String),
        sa.column("detail", sa.Text),
    )
    conn = op.get_bind()
    for sid, trail in conn.execute(sa.select(calls.c.call_sid, calls.c.trail).where(calls.c.trail != "")).all():
        rows = events_of(sid, trail)
        if rows:
            conn.execute(events.insert(), rows)
    # Not a batch: on SQLite that copies the table and drops the old one, and the drop would take
    # every event with it (ON DELETE CASCADE).  SQLite drops a plain column in place since 3.35.
    op.drop_column("calls", "trail")
