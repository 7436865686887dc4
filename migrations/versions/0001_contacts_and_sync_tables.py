"""The salesforce schema: sf_contacts, sync_state (high-water marks), sync_runs (monitoring).

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Written from ``alembic revision --autogenerate`` and reviewed. A migration is frozen history:
it spells out its columns instead of reading the registry, so later registry changes need
their own revision (``alembic check`` in the test suite catches a forgotten one).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from salesforce_elt.engine.registry import warehouse_schema

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = warehouse_schema()


def _contact(column: str, type_: sa.types.TypeEngine, field: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(column, type_, nullable=nullable, comment=f"Contact.{field}")


def upgrade() -> None:
    # env.py creates the schema before Alembic writes its version table; kept here so the SQL
    # of `alembic upgrade --sql` is complete on its own.
    op.execute(sa.schema.CreateSchema(SCHEMA, if_not_exists=True))
    sfid = sa.String(length=18)
    op.create_table(
        "sf_contacts",
        sa.Column("salesforce_id", sfid, nullable=False, comment="Salesforce Id (18 characters)"),
        _contact("account_id", sfid, "AccountId"),
        _contact("first_name", sa.String(length=40), "FirstName"),
        _contact("last_name", sa.String(length=80), "LastName"),
        _contact("name", sa.String(length=121), "Name"),
        _contact("salutation", sa.String(length=40), "Salutation"),
        _contact("title", sa.String(length=128), "Title"),
        _contact("email", sa.String(length=80), "Email"),
        _contact("phone", sa.String(length=40), "Phone"),
        _contact("mobile_phone", sa.String(length=40), "MobilePhone"),
        _contact("owner_id", sfid, "OwnerId"),
        _contact("reports_to_id", sfid, "ReportsToId"),
        _contact("birthdate", sa.Date(), "Birthdate"),
        _contact("department", sa.String(length=80), "Department"),
        _contact("lead_source", sa.String(length=255), "LeadSource"),
        _contact("has_opted_out_of_email", sa.Boolean(), "HasOptedOutOfEmail"),
        _contact("do_not_call", sa.Boolean(), "DoNotCall"),
        _contact("last_activity_date", sa.Date(), "LastActivityDate"),
        _contact("master_record_id", sfid, "MasterRecordId"),
        _contact("npi", sa.String(length=20), "NPI__c"),
        _contact("specialty", sa.String(length=255), "Specialty__c"),
        _contact("is_physician", sa.Boolean(), "Is_Physician__c"),
        _contact("mailing_address", postgresql.JSONB(astext_type=sa.Text()), "MailingAddress"),
        _contact("other_address", postgresql.JSONB(astext_type=sa.Text()), "OtherAddress"),
        _contact("sf_created_date", sa.DateTime(timezone=True), "CreatedDate"),
        _contact("created_by_id", sfid, "CreatedById"),
        _contact("sf_last_modified_date", sa.DateTime(timezone=True), "LastModifiedDate"),
        _contact("last_modified_by_id", sfid, "LastModifiedById"),
        _contact("sf_system_modstamp", sa.DateTime(timezone=True), "SystemModstamp", nullable=False),
        _contact("is_deleted", sa.Boolean(), "IsDeleted", nullable=False),
        sa.Column("sync_run_id", sa.Text(), nullable=True, comment="Airflow run_id of the last write"),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True, comment="time of the last write"),
        sa.Column(
            "sf_deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="deletedDate from the /deleted feed (hard or soft delete)",
        ),
        sa.PrimaryKeyConstraint("salesforce_id", name=op.f("pk_sf_contacts")),
        schema=SCHEMA,
        comment="Salesforce Contact, synced by salesforce_elt",
    )
    for column in ("account_id", "email", "npi", "owner_id", "sf_system_modstamp", "specialty"):
        op.create_index(op.f(f"ix_sf_contacts_{column}"), "sf_contacts", [column], unique=False, schema=SCHEMA)

    op.create_table(
        "sync_runs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("dag_id", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("object_name", sa.Text(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("api", sa.Text(), nullable=True),
        sa.Column("job_ids", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("rows_extracted", sa.BigInteger(), nullable=True),
        sa.Column("rows_rejected", sa.BigInteger(), nullable=True),
        sa.Column("new_records", sa.BigInteger(), nullable=True),
        sa.Column("updated_records", sa.BigInteger(), nullable=True),
        sa.Column("deleted_records", sa.BigInteger(), nullable=True),
        sa.Column("seconds_extract", sa.Double(), nullable=True),
        sa.Column("seconds_transform", sa.Double(), nullable=True),
        sa.Column("seconds_load", sa.Double(), nullable=True),
        sa.Column("api_calls", sa.Integer(), nullable=True),
        sa.Column("api_usage_before", sa.Text(), nullable=True),
        sa.Column("api_usage_after", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_runs")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_sync_runs_object_name_started_at", "sync_runs", ["object_name", "started_at"], unique=False, schema=SCHEMA
    )

    op.create_table(
        "sync_state",
        sa.Column("object_name", sa.Text(), nullable=False),
        sa.Column("high_water_mark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_id", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("object_name", name=op.f("pk_sync_state")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    # Tables only: the schema also holds Alembic's version table (and maybe other people's objects).
    op.drop_table("sync_state", schema=SCHEMA)
    op.drop_table("sync_runs", schema=SCHEMA)
    op.drop_table("sf_contacts", schema=SCHEMA)
