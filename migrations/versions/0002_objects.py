"""Users, activities (Task + Event), TaskWhoRelations, three more Contact fields, v_contact_activities.

Revision ID: 0002_objects
Revises: 0001
Create Date: 2026-11-26

Written from ``alembic revision --autogenerate`` and reviewed (0003_monitoring's api_call_log,
generated alongside, is left to that revision). No foreign keys between the synced tables: each
loads on its own schedule, so a reference may arrive before the row it points to; every
reference column is indexed instead (the audit pair created_by_id/last_modified_by_id aside).
The view's SQL is kept in sql/views/ and read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import salesforce_elt
from salesforce_elt.engine.registry import warehouse_schema

revision: str = "0002_objects"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = warehouse_schema()
VIEW_SQL = Path(salesforce_elt.__file__).resolve().parents[2] / "sql" / "views" / "v_contact_activities.sql"


def _quoted_schema() -> str:
    return '"' + SCHEMA.replace('"', '""') + '"'


def _index(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False, schema=SCHEMA)


def upgrade() -> None:
    op.create_table(
        "sf_activities",
        sa.Column(
            "salesforce_id", sa.String(length=18), nullable=False, comment="Salesforce Id (18 characters)"
        ),
        sa.Column("who_id", sa.String(length=18), nullable=True, comment="Event.WhoId; Task.WhoId"),
        sa.Column("what_id", sa.String(length=18), nullable=True, comment="Event.WhatId; Task.WhatId"),
        sa.Column("subject", sa.String(length=255), nullable=True, comment="Event.Subject; Task.Subject"),
        sa.Column("activity_date", sa.Date(), nullable=True, comment="Event.ActivityDate; Task.ActivityDate"),
        sa.Column("owner_id", sa.String(length=18), nullable=True, comment="Event.OwnerId; Task.OwnerId"),
        sa.Column("description", sa.Text(), nullable=True, comment="Event.Description; Task.Description"),
        sa.Column(
            "account_id", sa.String(length=18), nullable=True, comment="Event.AccountId; Task.AccountId"
        ),
        sa.Column("is_archived", sa.Boolean(), nullable=True, comment="Event.IsArchived; Task.IsArchived"),
        sa.Column(
            "sf_created_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Event.CreatedDate; Task.CreatedDate",
        ),
        sa.Column(
            "created_by_id",
            sa.String(length=18),
            nullable=True,
            comment="Event.CreatedById; Task.CreatedById",
        ),
        sa.Column(
            "sf_last_modified_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="Event.LastModifiedDate; Task.LastModifiedDate",
        ),
        sa.Column(
            "last_modified_by_id",
            sa.String(length=18),
            nullable=True,
            comment="Event.LastModifiedById; Task.LastModifiedById",
        ),
        sa.Column(
            "sf_system_modstamp",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="Event.SystemModstamp; Task.SystemModstamp",
        ),
        sa.Column("is_deleted", sa.Boolean(), nullable=False, comment="Event.IsDeleted; Task.IsDeleted"),
        sa.Column("location", sa.String(length=255), nullable=True, comment="Event.Location"),
        sa.Column("is_all_day_event", sa.Boolean(), nullable=True, comment="Event.IsAllDayEvent"),
        sa.Column(
            "activity_date_time", sa.DateTime(timezone=True), nullable=True, comment="Event.ActivityDateTime"
        ),
        sa.Column("duration_in_minutes", sa.Integer(), nullable=True, comment="Event.DurationInMinutes"),
        sa.Column(
            "start_date_time", sa.DateTime(timezone=True), nullable=True, comment="Event.StartDateTime"
        ),
        sa.Column("end_date_time", sa.DateTime(timezone=True), nullable=True, comment="Event.EndDateTime"),
        sa.Column("show_as", sa.String(length=40), nullable=True, comment="Event.ShowAs"),
        sa.Column("is_child", sa.Boolean(), nullable=True, comment="Event.IsChild"),
        sa.Column("is_private", sa.Boolean(), nullable=True, comment="Event.IsPrivate"),
        sa.Column("is_group_event", sa.Boolean(), nullable=True, comment="Event.IsGroupEvent"),
        sa.Column("event_subtype", sa.String(length=40), nullable=True, comment="Event.EventSubtype"),
        sa.Column(
            "activity_type",
            sa.String(length=16),
            nullable=True,
            comment="derived: call | email | meeting | task | other, from TaskSubtype/EventSubtype (activity.py)",
        ),
        sa.Column(
            "duration_seconds",
            sa.Integer(),
            nullable=True,
            comment="derived: call seconds (Task) or event minutes * 60 (Event), see activity.py",
        ),
        sa.Column("activity_kind", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=True, comment="Task.Status"),
        sa.Column("priority", sa.String(length=40), nullable=True, comment="Task.Priority"),
        sa.Column("is_high_priority", sa.Boolean(), nullable=True, comment="Task.IsHighPriority"),
        sa.Column("is_closed", sa.Boolean(), nullable=True, comment="Task.IsClosed"),
        sa.Column(
            "call_duration_in_seconds", sa.Integer(), nullable=True, comment="Task.CallDurationInSeconds"
        ),
        sa.Column("call_type", sa.String(length=40), nullable=True, comment="Task.CallType"),
        sa.Column("call_disposition", sa.String(length=255), nullable=True, comment="Task.CallDisposition"),
        sa.Column(
            "reminder_date_time", sa.DateTime(timezone=True), nullable=True, comment="Task.ReminderDateTime"
        ),
        sa.Column("is_reminder_set", sa.Boolean(), nullable=True, comment="Task.IsReminderSet"),
        sa.Column("is_recurrence", sa.Boolean(), nullable=True, comment="Task.IsRecurrence"),
        sa.Column("task_subtype", sa.String(length=40), nullable=True, comment="Task.TaskSubtype"),
        sa.Column(
            "completed_date_time", sa.DateTime(timezone=True), nullable=True, comment="Task.CompletedDateTime"
        ),
        sa.Column("sync_run_id", sa.Text(), nullable=True, comment="Airflow run_id of the last write"),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True, comment="time of the last write"),
        sa.Column(
            "sf_deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="deletedDate from the /deleted feed (hard or soft delete)",
        ),
        sa.PrimaryKeyConstraint("salesforce_id", name=op.f("pk_sf_activities")),
        schema=SCHEMA,
        comment="Salesforce Event, Task, synced by salesforce_elt",
    )
    _index(
        "sf_activities", "account_id", "activity_type", "owner_id", "sf_system_modstamp", "what_id", "who_id"
    )
    op.create_table(
        "sf_task_who_relations",
        sa.Column(
            "salesforce_id", sa.String(length=18), nullable=False, comment="Salesforce Id (18 characters)"
        ),
        sa.Column("relation_id", sa.String(length=18), nullable=True, comment="TaskWhoRelation.RelationId"),
        sa.Column("task_id", sa.String(length=18), nullable=True, comment="TaskWhoRelation.TaskId"),
        sa.Column("relation_type", sa.String(length=50), nullable=True, comment="TaskWhoRelation.Type"),
        sa.Column("account_id", sa.String(length=18), nullable=True, comment="TaskWhoRelation.AccountId"),
        sa.Column(
            "sf_created_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="TaskWhoRelation.CreatedDate",
        ),
        sa.Column(
            "created_by_id", sa.String(length=18), nullable=True, comment="TaskWhoRelation.CreatedById"
        ),
        sa.Column(
            "sf_last_modified_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="TaskWhoRelation.LastModifiedDate",
        ),
        sa.Column(
            "last_modified_by_id",
            sa.String(length=18),
            nullable=True,
            comment="TaskWhoRelation.LastModifiedById",
        ),
        sa.Column(
            "sf_system_modstamp",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="TaskWhoRelation.SystemModstamp",
        ),
        sa.Column("is_deleted", sa.Boolean(), nullable=False, comment="TaskWhoRelation.IsDeleted"),
        sa.Column("sync_run_id", sa.Text(), nullable=True, comment="Airflow run_id of the last write"),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True, comment="time of the last write"),
        sa.Column(
            "sf_deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="deletedDate from the /deleted feed (hard or soft delete)",
        ),
        sa.PrimaryKeyConstraint("salesforce_id", name=op.f("pk_sf_task_who_relations")),
        schema=SCHEMA,
        comment="Salesforce TaskWhoRelation, synced by salesforce_elt",
    )
    _index("sf_task_who_relations", "account_id", "relation_id", "sf_system_modstamp", "task_id")
    op.create_table(
        "sf_users",
        sa.Column(
            "salesforce_id", sa.String(length=18), nullable=False, comment="Salesforce Id (18 characters)"
        ),
        sa.Column("username", sa.String(length=80), nullable=True, comment="User.Username"),
        sa.Column("last_name", sa.String(length=80), nullable=True, comment="User.LastName"),
        sa.Column("first_name", sa.String(length=40), nullable=True, comment="User.FirstName"),
        sa.Column("name", sa.String(length=121), nullable=True, comment="User.Name"),
        sa.Column("company_name", sa.String(length=80), nullable=True, comment="User.CompanyName"),
        sa.Column("division", sa.String(length=80), nullable=True, comment="User.Division"),
        sa.Column("department", sa.String(length=80), nullable=True, comment="User.Department"),
        sa.Column("title", sa.String(length=80), nullable=True, comment="User.Title"),
        sa.Column("address", postgresql.JSONB(astext_type=sa.Text()), nullable=True, comment="User.Address"),
        sa.Column("email", sa.String(length=128), nullable=True, comment="User.Email"),
        sa.Column("alias", sa.String(length=8), nullable=True, comment="User.Alias"),
        sa.Column("is_active", sa.Boolean(), nullable=True, comment="User.IsActive"),
        sa.Column("time_zone_sid_key", sa.String(length=40), nullable=True, comment="User.TimeZoneSidKey"),
        sa.Column("locale_sid_key", sa.String(length=40), nullable=True, comment="User.LocaleSidKey"),
        sa.Column("user_role_id", sa.String(length=18), nullable=True, comment="User.UserRoleId"),
        sa.Column("profile_id", sa.String(length=18), nullable=True, comment="User.ProfileId"),
        sa.Column("user_type", sa.String(length=40), nullable=True, comment="User.UserType"),
        sa.Column("manager_id", sa.String(length=18), nullable=True, comment="User.ManagerId"),
        sa.Column("last_login_date", sa.DateTime(timezone=True), nullable=True, comment="User.LastLoginDate"),
        sa.Column("sf_created_date", sa.DateTime(timezone=True), nullable=True, comment="User.CreatedDate"),
        sa.Column("created_by_id", sa.String(length=18), nullable=True, comment="User.CreatedById"),
        sa.Column(
            "sf_last_modified_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="User.LastModifiedDate",
        ),
        sa.Column(
            "last_modified_by_id", sa.String(length=18), nullable=True, comment="User.LastModifiedById"
        ),
        sa.Column(
            "sf_system_modstamp", sa.DateTime(timezone=True), nullable=False, comment="User.SystemModstamp"
        ),
        sa.Column("sync_run_id", sa.Text(), nullable=True, comment="Airflow run_id of the last write"),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True, comment="time of the last write"),
        sa.Column(
            "sf_deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="deletedDate from the /deleted feed (hard or soft delete)",
        ),
        sa.PrimaryKeyConstraint("salesforce_id", name=op.f("pk_sf_users")),
        schema=SCHEMA,
        comment="Salesforce User, synced by salesforce_elt",
    )
    _index("sf_users", "email", "manager_id", "profile_id", "sf_system_modstamp", "user_role_id")
    _index("sf_contacts", "master_record_id", "reports_to_id")
    op.add_column(
        "sf_contacts",
        sa.Column("languages", postgresql.ARRAY(sa.Text()), nullable=True, comment="Contact.Languages__c"),
        schema=SCHEMA,
    )
    op.add_column(
        "sf_contacts",
        sa.Column(
            "full_name_formula",
            sa.String(length=1300),
            nullable=True,
            comment="Contact.Full_Name_Formula__c (formula: may go stale)",
        ),
        schema=SCHEMA,
    )
    op.add_column(
        "sf_contacts",
        sa.Column(
            "days_since_created",
            sa.Numeric(precision=18, scale=0),
            nullable=True,
            comment="Contact.Days_Since_Created__c (formula: may go stale)",
        ),
        schema=SCHEMA,
    )
    op.execute(VIEW_SQL.read_text(encoding="utf-8").replace("{schema}", _quoted_schema()))


def downgrade() -> None:
    op.execute(f"DROP VIEW IF EXISTS {_quoted_schema()}.v_contact_activities")
    for column in ("master_record_id", "reports_to_id"):
        op.drop_index(op.f(f"ix_sf_contacts_{column}"), table_name="sf_contacts", schema=SCHEMA)
    for column in ("days_since_created", "full_name_formula", "languages"):
        op.drop_column("sf_contacts", column, schema=SCHEMA)
    # A table's indexes go with it.
    for table in ("sf_users", "sf_task_who_relations", "sf_activities"):
        op.drop_table(table, schema=SCHEMA)
