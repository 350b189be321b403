"""Published menu versions, the publication each call keeps, and how long a call may stay silent.

``menu_publications`` holds every published menu text, never changed nor
deleted.  ``calls.publication`` is the one a call started on (None: the menu
file), and ``calls.live_until`` when what the call waits for is over.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "menu_publications",
        sa.Column("number", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("menu_id", sa.String(64), nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("published_by", sa.String(100), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("rollback_of", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rollback_of"],
            ["menu_publications.number"],
            name=op.f("fk_menu_publications_rollback_of_menu_publications"),
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_menu_publications")),
    )
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("publication", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("live_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Not a batch: on SQLite that copies the table and drops the old one, and the drop would take
    # every call event with it (ON DELETE CASCADE).  SQLite drops a plain column in place since 3.35.
    op.drop_column("calls", "live_until")
    op.drop_column("calls", "publication")
    op.drop_table("menu_publications")
