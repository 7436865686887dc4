"""sync_runs: records cleaned of NUL bytes, and why deletes were reconciled by Id.

Revision ID: 0005_sync_run_cleaning
Revises: 0004_schema_audit
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from salesforce_elt.engine.registry import warehouse_schema

revision: str = "0005_sync_run_cleaning"
down_revision: str | None = "0004_schema_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = warehouse_schema()


def upgrade() -> None:
    op.add_column(
        "sync_runs",
        sa.Column(
            "records_cleaned",
            sa.BigInteger(),
            nullable=True,
            comment="records whose text values had NUL bytes removed by the transform",
        ),
        schema=SCHEMA,
    )
    op.add_column(
        "sync_runs",
        sa.Column(
            "deletes_reconciled",
            sa.Text(),
            nullable=True,
            comment="why deletes were found by comparing Ids instead of the /deleted feed; NULL if not",
        ),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("sync_runs", "deletes_reconciled", schema=SCHEMA)
    op.drop_column("sync_runs", "records_cleaned", schema=SCHEMA)
