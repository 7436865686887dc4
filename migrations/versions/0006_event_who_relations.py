"""EventWhoRelation: sf_event_who_relations, and v_contact_activities through it too.

Revision ID: 0006_event_who_relations
Revises: 0005_sync_run_cleaning
Create Date: 2026-11-30

An event's contacts besides its WhoId live in EventWhoRelation (Shared Activities), as a task's
do in TaskWhoRelation; each relation object keeps its own table and the view unions them. No
foreign keys (the tables load independently); every reference column is indexed. The view's
SQL is kept in sql/views/ and read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

import salesforce_elt
from salesforce_elt.engine.registry import warehouse_schema

revision: str = "0006_event_who_relations"
down_revision: str | None = "0005_sync_run_cleaning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = warehouse_schema()
VIEWS = Path(salesforce_elt.__file__).resolve().parents[2] / "sql" / "views"
VIEW_SQL = VIEWS / "v_contact_activities_0006.sql"
PREVIOUS_VIEW_SQL = VIEWS / "v_contact_activities.sql"  # migration 0002's


def _quoted_schema() -> str:
    return '"' + SCHEMA.replace('"', '""') + '"'


def _create_view(path: Path) -> None:
    op.execute(f"DROP VIEW IF EXISTS {_quoted_schema()}.v_contact_activities")
    op.execute(path.read_text(encoding="utf-8").replace("{schema}", _quoted_schema()))


def upgrade() -> None:
    table = "sf_event_who_relations"
    op.create_table(
        table,
        sa.Column(
            "salesforce_id", sa.String(length=18), nullable=False, comment="Salesforce Id (18 characters)"
        ),
        sa.Column("relation_id", sa.String(length=18), nullable=True, comment="EventWhoRelation.RelationId"),
        sa.Column("event_id", sa.String(length=18), nullable=True, comment="EventWhoRelation.EventId"),
        sa.Column("relation_type", sa.String(length=50), nullable=True, comment="EventWhoRelation.Type"),
        sa.Column("account_id", sa.String(length=18), nullable=True, comment="EventWhoRelation.AccountId"),
        sa.Column(
            "sf_created_date", sa.DateTime(timezone=True), nullable=True, comment="EventWhoRelation.CreatedDate"
        ),
        sa.Column(
            "created_by_id", sa.String(length=18), nullable=True, comment="EventWhoRelation.CreatedById"
        ),
        sa.Column(
            "sf_last_modified_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="EventWhoRelation.LastModifiedDate",
        ),
        sa.Column(
            "last_modified_by_id",
            sa.String(length=18),
            nullable=True,
            comment="EventWhoRelation.LastModifiedById",
        ),
        sa.Column(
            "sf_system_modstamp",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="EventWhoRelation.SystemModstamp",
        ),
        sa.Column("is_deleted", sa.Boolean(), nullable=False, comment="EventWhoRelation.IsDeleted"),
        sa.Column("sync_run_id", sa.Text(), nullable=True, comment="Airflow run_id of the last write"),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True, comment="time of the last write"),
        sa.Column(
            "sf_deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="deletedDate from the /deleted feed (hard or soft delete)",
        ),
        sa.PrimaryKeyConstraint("salesforce_id", name=op.f("pk_sf_event_who_relations")),
        schema=SCHEMA,
        comment="Salesforce EventWhoRelation, synced by salesforce_elt",
    )
    for column in ("account_id", "event_id", "relation_id", "sf_system_modstamp"):
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False, schema=SCHEMA)
    _create_view(VIEW_SQL)


def downgrade() -> None:
    _create_view(PREVIOUS_VIEW_SQL)
    op.drop_table("sf_event_who_relations", schema=SCHEMA)  # its indexes go with it
