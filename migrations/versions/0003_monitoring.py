"""api_call_log: one row per Salesforce API request of an extract (monitoring, quota audits).

Revision ID: 0003_monitoring
Revises: 0002_objects
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from salesforce_elt.engine.registry import warehouse_schema

revision: str = "0003_monitoring"
down_revision: str | None = "0002_objects"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = warehouse_schema()


def upgrade() -> None:
    op.create_table(
        "api_call_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("called_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dag_id", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.Column("task_id", sa.Text(), nullable=True),
        sa.Column("object_name", sa.Text(), nullable=True),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False, comment="URL path only, never the query string"),
        sa.Column("status", sa.Integer(), nullable=True, comment="HTTP status; NULL when no answer arrived"),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column(
            "api_usage", sa.Text(), nullable=True, comment="Sforce-Limit-Info api-usage after the call"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_call_log")),
        schema=SCHEMA,
    )
    op.create_index("ix_api_call_log_called_at", "api_call_log", ["called_at"], unique=False, schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("ix_api_call_log_called_at", table_name="api_call_log", schema=SCHEMA)
    op.drop_table("api_call_log", schema=SCHEMA)
