"""metrics: guide runs recorded by the action server (per-article health, solved by the bot)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kb_guide_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(100), nullable=False, index=True),
        sa.Column("article_id", sa.String(100), nullable=False),
        sa.Column("language", sa.String(2), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("started_at", TZ, nullable=False, index=True),
        sa.Column("last_step_at", TZ, nullable=False),
        sa.Column("steps_total", sa.Integer(), nullable=False),
        sa.Column("last_step", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("solved_at_step", sa.Integer(), nullable=True),
        sa.Column("handoff_after_step", sa.Integer(), nullable=True),
        sa.Column("handoff_reason", sa.String(30), nullable=True),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
    )
    op.create_index("ix_kb_guide_runs_article_started", "kb_guide_runs", ["article_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_kb_guide_runs_article_started", table_name="kb_guide_runs")
    op.drop_table("kb_guide_runs")
