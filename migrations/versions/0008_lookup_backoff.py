"""lookup backoff: attempts, next attempt and last error of an ids-only event's lookup

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import plugin.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lookup_attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("lookup_due_at", plugin.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("lookup_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_events", schema=None) as batch_op:
        batch_op.drop_column("lookup_error")
        batch_op.drop_column("lookup_due_at")
        batch_op.drop_column("lookup_attempts")
