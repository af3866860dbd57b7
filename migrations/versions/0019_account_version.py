"""accounts.version: a counter every change to an account bumps; the phone throttle index only where a phone is

A web process keeps each account (and its decrypted secrets) in memory; its ingest statement inserts the event
only while the account's version is the one it holds, so a change made by another process (the CLI, the admin
page, another worker) is seen by the very next webhook (docs/decisions.md, "Accounts cached per process").

ix_surveys_active_phone (migration 0018) gets `requester_phone IS NOT NULL` in its predicate: without statistics
the planner used it for the email throttle check as well (it matches account_id and created_at) and read every
active survey of the account's last week, 7 ms per webhook for an account with 100k surveys (docs/benchmarks.md).

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


ACTIVE = "status IN ('scheduled', 'sent')"
PHONE_INDEX = ("ix_surveys_active_phone", "surveys", ["account_id", "requester_phone", "created_at"])


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
    _phone_index(f"{ACTIVE} AND requester_phone IS NOT NULL")


def downgrade() -> None:
    _phone_index(ACTIVE)
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("version")


def _phone_index(where: str) -> None:
    name, table, columns = PHONE_INDEX
    op.drop_index(name, table_name=table)
    op.create_index(name, table, columns, unique=False, sqlite_where=sa.text(where), postgresql_where=sa.text(where))
