"""schema_audit: the daily drift check of every registered object.

Revision ID: 0004_schema_audit
Revises: 0003_monitoring
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from salesforce_elt.engine.registry import warehouse_schema

revision: str = "0004_schema_audit"
down_revision: str | None = "0003_monitoring"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = warehouse_schema()


def upgrade() -> None:
    op.create_table(
        "schema_audit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.Column("object_name", sa.Text(), nullable=False),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.Column(
            "drift",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="added / removed / changed fields (schema diff --json)",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schema_audit")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_schema_audit_object_name_checked_at",
        "schema_audit",
        ["object_name", "checked_at"],
        unique=False,
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_index("ix_schema_audit_object_name_checked_at", table_name="schema_audit", schema=SCHEMA)
    op.drop_table("schema_audit", schema=SCHEMA)
