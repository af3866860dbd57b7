"""survey channel for signature links

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 12:54:50.973846
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SIGNATURE_ONLY = sa.text("channel = 'signature'")


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=10), server_default="email", nullable=False))
        batch_op.create_index(
            "uq_surveys_signature",
            ["account_id", "ticket_id", "agent_email"],
            unique=True,
            sqlite_where=SIGNATURE_ONLY,
            postgresql_where=SIGNATURE_ONLY,
        )


def downgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_index("uq_surveys_signature", sqlite_where=SIGNATURE_ONLY, postgresql_where=SIGNATURE_ONLY)
        batch_op.drop_column("channel")
