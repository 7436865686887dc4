"""Alembic environment for the warehouse schema owned by salesforce_elt.

- URL: $SALESFORCE_ELT_WAREHOUSE_URL, else the Airflow connection "salesforce_warehouse"
  (a URL set on the Config as ``sqlalchemy.url`` — tests do that — wins over both).
- Version table: <schema>.alembic_version_salesforce_elt, never Airflow's alembic_version.
- Only our schema is compared, so Airflow's tables (same database or not) never show up in
  autogenerate or ``alembic check``.
"""

from __future__ import annotations

from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from salesforce_elt.engine import models, warehouse

VERSION_TABLE = "alembic_version_salesforce_elt"
SCHEMA = models.SCHEMA
config = context.config
if config.config_file_name and config.attributes.get("configure_logger", True):
    # Keep loggers configured by the caller (pytest, Airflow) working.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def include_name(name, type_, parent_names) -> bool:
    if type_ == "schema":
        return name == SCHEMA
    return True


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    # The version table lives in our schema but is Alembic's, not a model.
    return not (type_ == "table" and name == VERSION_TABLE)


def _url() -> sa.URL:
    configured = config.get_main_option("sqlalchemy.url")
    return warehouse.to_sqlalchemy_url(configured) if configured else warehouse.sqlalchemy_url()


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=models.Base.metadata,
        version_table=VERSION_TABLE,
        version_table_schema=SCHEMA,
        include_schemas=True,
        include_name=include_name,
        include_object=include_object,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = sa.create_engine(_url(), poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        # The version table lives in the schema, so the schema must exist before Alembic looks.
        connection.execute(sa.schema.CreateSchema(SCHEMA, if_not_exists=True))
        connection.commit()
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
