"""drop the surveys indexes no query uses since the partial ones of 0018: every new survey wrote them

ix_surveys_requester (account_id, requester_email, created_at) and ix_surveys_phone (account_id, requester_phone,
created_at) served the throttle rule, which now reads ix_surveys_active_requester and ix_surveys_active_phone (the
same columns, only the scheduled and sent surveys the rule counts). Nothing else filters surveys by requester:
the unsubscribe update reads ix_surveys_active_requester too. Each index a webhook's INSERT need not write is
PostgreSQL work saved on every webhook (docs/benchmarks.md).

Revision ID: 0024
Revises: 0023
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("surveys") as batch_op:
        batch_op.drop_index("ix_surveys_requester")
        batch_op.drop_index("ix_surveys_phone")


def downgrade() -> None:
    with op.batch_alter_table("surveys") as batch_op:
        batch_op.create_index("ix_surveys_requester", ["account_id", "requester_email", "created_at"], unique=False)
        batch_op.create_index("ix_surveys_phone", ["account_id", "requester_phone", "created_at"], unique=False)
