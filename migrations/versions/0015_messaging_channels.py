"""messaging channels: provider configs, channel messages, the requester's phone

Revision ID: 0015
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import plugin.db

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requester_phone", sa.String(length=20), nullable=True))
        batch_op.create_index("ix_surveys_phone", ["account_id", "requester_phone", "created_at"])
    op.create_table(
        "channel_configs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("api_url", sa.String(length=500), nullable=True),
        sa.Column("sender", sa.String(length=100), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("secrets_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", plugin.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "provider"),
    )
    op.create_table(
        "channel_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("our_address", sa.String(length=100), nullable=False),
        sa.Column("their_address", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error_code", sa.String(length=20), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", plugin.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", plugin.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", plugin.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"]),
        sa.ForeignKeyConstraint(["survey_id"], ["surveys.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "provider", "dedupe_key"),
    )
    op.create_index("ix_channel_messages_pair", "channel_messages", ["account_id", "their_address", "created_at"])
    op.create_index("ix_channel_messages_provider_id", "channel_messages", ["provider", "provider_message_id"])
    op.create_index("ix_channel_messages_due", "channel_messages", ["status", "next_attempt_at"])
    op.create_index("ix_channel_messages_survey_id", "channel_messages", ["survey_id"])


def downgrade() -> None:
    op.drop_table("channel_messages")
    op.drop_table("channel_configs")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index("ix_surveys_phone")
        batch_op.drop_column("requester_phone")
