"""click page signals and who cleared a click's marks

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 11:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signals", sa.String(length=300), server_default="", nullable=False))
        batch_op.add_column(sa.Column("cleared", sa.String(length=10), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_column("cleared")
        batch_op.drop_column("signals")
