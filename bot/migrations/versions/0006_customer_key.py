"""customer key: a customer's conversations are linked (hash of the widget's random key), and found by e-mail

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 22:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hub_conversations") as table:
        table.add_column(sa.Column("customer_hash", sa.String(64), nullable=True))
        table.create_index("ix_hub_conversations_customer_hash", ["customer_hash"])
        table.create_index("ix_hub_conversations_email", ["email"])


def downgrade() -> None:
    with op.batch_alter_table("hub_conversations") as table:
        table.drop_index("ix_hub_conversations_email")
        table.drop_index("ix_hub_conversations_customer_hash")
        table.drop_column("customer_hash")
