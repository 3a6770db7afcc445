"""knowledge loop: drafts from resolved handoffs, the inbox of misunderstood customer messages

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 13:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hub_drafts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("hub_tickets.id"), nullable=False, index=True),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("hub_conversations.id"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, index=True),
        sa.Column("article_id", sa.String(100), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("hub_agents.id"), nullable=True),
        sa.Column("reviewer_id", sa.Integer(), sa.ForeignKey("hub_agents.id"), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("decided_at", TZ, nullable=True),
    )
    op.create_table(
        "nlu_review_items",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(64), nullable=False, index=True),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(50), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("suggested_intent", sa.String(50), nullable=True),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, index=True),
        sa.Column("label", sa.String(50), nullable=True),
        sa.Column("labelled_by", sa.String(50), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("labelled_at", TZ, nullable=True),
        sa.UniqueConstraint("conversation_id", "text", name="uq_nlu_review_conversation_text"),
    )


def downgrade() -> None:
    op.drop_table("nlu_review_items")
    op.drop_table("hub_drafts")
