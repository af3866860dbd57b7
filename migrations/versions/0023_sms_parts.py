"""sms parts: a long inbound SMS arrives as several webhooks (Vonage concat-*), kept until it is whole

Revision ID: 0023
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

import plugin.db

revision = "0023"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sms_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("their_address", sa.String(length=100), nullable=False),
        sa.Column("our_address", sa.String(length=100), nullable=False),
        sa.Column("concat_ref", sa.String(length=100), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("join_due_at", plugin.db.UTCDateTime(), nullable=False),
        sa.Column("received_at", plugin.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "provider", "their_address", "concat_ref", "part"),
    )
    op.create_index("ix_sms_parts_due", "sms_parts", ["status", "join_due_at"])


def downgrade() -> None:
    op.drop_index("ix_sms_parts_due", table_name="sms_parts")
    op.drop_table("sms_parts")
