"""Throwaway warehouse databases on the test Postgres server, migrated with the repo's alembic."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

REPO = Path(__file__).resolve().parents[2]


def alembic_config(url: str | None = None) -> Config:
    """The repo's alembic.ini, on ``url`` when given, without alembic reconfiguring the loggers."""
    config = Config(str(REPO / "alembic.ini"))
    config.attributes["configure_logger"] = False
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ini interpolation
    return config


def migrate(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def create_database(server_url: str, prefix: str, revision: str | None = "head") -> str:
    """A new database on ``server_url`` (migrated to ``revision`` unless None); returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    if revision:
        migrate(url, revision)
    return url


def drop_database(server_url: str, url: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)')


@contextmanager
def fresh_database(server_url: str, prefix: str, revision: str | None = "head"):
    """A new database on the test server (migrated to ``revision`` unless None); dropped afterwards."""
    url = create_database(server_url, prefix, revision)
    try:
        yield url
    finally:
        drop_database(server_url, url)
