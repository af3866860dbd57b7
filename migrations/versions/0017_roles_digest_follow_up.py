"""roles, weekly digest, follow-up on negative ratings

Revision ID: 0017
Revises: 0009
Create Date: 2026-12-01 11:50:00
"""

import sqlalchemy as sa
from alembic import op

from plugin.db import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("admin_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=10), server_default="admin", nullable=False))
        batch_op.add_column(sa.Column("name", sa.String(length=200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("teams", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("agent_email", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("locale", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("digest_weekday", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("digest_hour", sa.Integer(), server_default="8", nullable=False))
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follow_up", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("follow_up_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("follow_up_by", sa.String(length=320), nullable=True))
    op.create_table(
        "digest_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admin_user_id", sa.Integer(), nullable=False),
        sa.Column("period_start", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["admin_user_id"], ["admin_users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("admin_user_id", "period_start"),
    )


def downgrade() -> None:
    op.drop_table("digest_sends")
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        for name in ("follow_up_by", "follow_up_at", "follow_up"):
            batch_op.drop_column(name)
    with op.batch_alter_table("admin_users", schema=None) as batch_op:
        for name in ("digest_hour", "digest_weekday", "locale", "agent_email", "teams", "name", "role"):
            batch_op.drop_column(name)
