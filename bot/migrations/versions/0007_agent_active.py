"""agents can be deactivated: they can no longer sign in, and their sessions and sockets end at once

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 20:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hub_agents") as table:
        table.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("hub_agents") as table:
        table.drop_column("active")
