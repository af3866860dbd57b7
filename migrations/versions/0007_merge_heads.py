"""merge the admin (0004), alerts (0005) and scanner (0006) branches

Revision ID: 0007
Revises: 0004, 0005, 0006
"""

revision = "0007"
down_revision = ("0004", "0005", "0006")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
