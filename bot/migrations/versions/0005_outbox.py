"""outbox: e-mails with the replies to customers who left the chat

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hub_outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("hub_conversations.id"), nullable=False, index=True),
        sa.Column("to_address", sa.String(254), nullable=False),
        sa.Column("after_message_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, index=True),
        sa.Column("send_after", TZ, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("message_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("sent_at", TZ, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("hub_outbox")
