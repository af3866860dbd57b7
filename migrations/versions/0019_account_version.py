"""accounts.version: a counter every change to an account bumps

A web process keeps each account (and its decrypted secrets) in memory; its ingest statement inserts the event
only while the account's version is the one it holds, so a change made by another process (the CLI, the admin
page, another worker) is seen by the very next webhook (docs/decisions.md, "Accounts cached per process").

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 14:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("version")
