"""scanner signals: page beacons on clicks, the click a rating rests on

Revision ID: 0006
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import plugin.db

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rendered_at", plugin.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("interacted_at", plugin.db.UTCDateTime(), nullable=True))
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_click_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_ratings_last_click_id", "clicks", ["last_click_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_constraint("fk_ratings_last_click_id", type_="foreignkey")
        batch_op.drop_column("last_click_id")
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_column("interacted_at")
        batch_op.drop_column("rendered_at")
