"""Cards, loss reports, reference counters, voicemails and the audit trail.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cards",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("holder", sa.String(60), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("pin_hash", sa.String(200), nullable=False),
        sa.Column("pin_changed", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replacement_applied_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('not_activated', 'active', 'reported_lost', 'replacing')", name=op.f("ck_cards_status")
        ),
        sa.CheckConstraint("failed_attempts >= 0", name=op.f("ck_cards_failed_attempts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cards")),
        sa.UniqueConstraint("id_number", name=op.f("uq_cards_id_number")),
    )
    op.create_table(
        "loss_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reference", sa.String(20), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_loss_reports_card_id_cards"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loss_reports")),
        sa.UniqueConstraint("reference", name=op.f("uq_loss_reports_reference")),
    )
    op.create_index(op.f("ix_loss_reports_card_id"), "loss_reports", ["card_id"])
    op.create_table(
        "reference_counters",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_reference_counters")),
    )
    op.create_table(
        "voicemails",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("caller", sa.String(40), nullable=False),
        sa.Column("recording_url", sa.String(500), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voicemails")),
    )
    op.create_index(op.f("ix_voicemails_call_sid"), "voicemails", ["call_sid"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("service", sa.String(40), nullable=False),
        sa.Column("id_masked", sa.String(20), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["cards.id"], name=op.f("fk_audit_log_card_id_cards"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_call_sid", "audit_log", ["call_sid"])
    op.create_index(op.f("ix_audit_log_card_id"), "audit_log", ["card_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_card_id"), table_name="audit_log")
    op.drop_index("ix_audit_log_call_sid", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_voicemails_call_sid"), table_name="voicemails")
    op.drop_table("voicemails")
    op.drop_table("reference_counters")
    op.drop_index(op.f("ix_loss_reports_card_id"), table_name="loss_reports")
    op.drop_table("loss_reports")
    op.drop_table("cards")
