"""indexes that are right without planner statistics

The skip rules and the sweep's lookups query each get a partial index whose predicate is the query's own
constant condition: the planner proves the index applies from the SQL alone, so the plan does not depend on
statistics that a server without autovacuum never gathers (docs/benchmarks.md, "Plans without statistics").

Revision ID: 0018
Revises: 0009
Create Date: 2026-12-01 12:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None

ACTIVE = sa.text("status IN ('scheduled', 'sent')")
SCHEDULED = sa.text("status = 'scheduled'")
LOOKING_UP = sa.text("event_json IS NOT NULL")

INDEXES = (
    ("surveys", "ix_surveys_scheduled_ticket", ["account_id", "ticket_id"], SCHEDULED),
    ("surveys", "ix_surveys_active_requester", ["account_id", "requester_email", "created_at"], ACTIVE),
    ("surveys", "ix_surveys_active_phone", ["account_id", "requester_phone", "created_at"], ACTIVE),
    ("webhook_events", "ix_webhook_events_lookup", ["lookup_due_at"], LOOKING_UP),
)


def upgrade() -> None:
    for table, name, columns, where in INDEXES:
        op.create_index(name, table, columns, unique=False, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    for table, name, _columns, _where in reversed(INDEXES):
        op.drop_index(name, table_name=table)
