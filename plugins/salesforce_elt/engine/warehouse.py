"""How this package reaches the warehouse: an explicit URL, or the Airflow connection via PostgresHook.

Precedence: the setting ``warehouse_url`` (SALESFORCE_ELT_WAREHOUSE_URL; tools such as Alembic run
outside Airflow) when no connection id is asked for, else the Airflow connection
``settings.WAREHOUSE_CONN_ID`` (``salesforce_warehouse``). The postgres provider's ``PostgresHook``
reads that connection and maps it to a URL (``sqlalchemy_url``: host, port, login, password,
schema = database, the ``sqlalchemy_query`` extra, an IAM token when ``iam`` is set); libpq options
in the extras (``sslmode`` and the like) are added to it. The password is only ever handed to libpq,
never logged.

The connection itself is opened with psycopg 3 (the driver the provider also picks with
SQLAlchemy 2), not with ``PostgresHook.get_conn()``: that takes no per-call options
(``connect_timeout`` for preflight and the usage command, our ``application_name``) and forwards
every extra to libpq, while callers here pass keyword arguments to ``psycopg.connect``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from salesforce_elt import settings

if TYPE_CHECKING:
    import psycopg
    import sqlalchemy as sa

URL_ENV = settings.WAREHOUSE_URL_ENV
DRIVER = "postgresql+psycopg"  # SQLAlchemy's name for psycopg 3

# Connection extras passed through to libpq; anything else in extras is ignored.
_LIBPQ_OPTIONS = frozenset(
    {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name", "options",
     "target_session_attrs", "keepalives", "keepalives_idle"}
)


def connection_url(conn_id: str) -> sa.URL:
    """The Airflow connection as a SQLAlchemy URL (psycopg 3 driver), libpq extras in its query."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id=conn_id)
    url = hook.sqlalchemy_url
    extra = hook.connection.extra_dejson or {}
    options = {k: str(v) for k, v in extra.items() if k in _LIBPQ_OPTIONS and v not in (None, "")}
    # The hook also copies its sqlalchemy_query extra into the URL: only libpq options go on to psycopg.
    kept = {k: v for k, v in url.query.items() if k in _LIBPQ_OPTIONS}
    return url.set(drivername=DRIVER, query=kept).update_query_dict(options)


def _libpq_params(url: sa.URL) -> dict[str, Any]:
    params: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    params.update({k: v if isinstance(v, str) else ",".join(v) for k, v in url.query.items()})
    return {k: v for k, v in params.items() if v not in (None, "")}


def conninfo(conn_id: str | None = None) -> str:
    """A libpq conninfo string for the warehouse (contains the password: do not log it)."""
    from psycopg.conninfo import make_conninfo

    url = settings.warehouse_url()
    if url and conn_id is None:
        return make_conninfo(_libpq_url(url))
    params = _libpq_params(connection_url(conn_id or settings.WAREHOUSE_CONN_ID))
    params.setdefault("application_name", "salesforce_elt")
    return make_conninfo(**params)


def _libpq_url(url: str) -> str:
    """libpq reads postgresql:// URLs but not SQLAlchemy's ``postgresql+psycopg://`` form."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}"


def connect(conn_id: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
    import psycopg

    return psycopg.connect(conninfo(conn_id), **kwargs)


def to_sqlalchemy_url(url: str | sa.URL) -> sa.URL:
    """``postgresql://...`` -> ``postgresql+psycopg://...`` (psycopg 3 is the installed driver)."""
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    return parsed.set(drivername=DRIVER) if parsed.drivername == "postgresql" else parsed


def sqlalchemy_url(conn_id: str | None = None) -> sa.URL:
    """The warehouse as a SQLAlchemy URL with the psycopg 3 driver (for Alembic)."""
    url = settings.warehouse_url()
    if url and conn_id is None:
        return to_sqlalchemy_url(url)
    return connection_url(conn_id or settings.WAREHOUSE_CONN_ID)


def one_row(cursor: psycopg.Cursor[Any], what: str) -> tuple[Any, ...]:
    """The row a statement always returns (an aggregate, RETURNING of an upsert); ``what`` names it."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError(f"the warehouse returned no row for {what}")
    return tuple(row)
