"""How this package reaches the warehouse: the Airflow connection, or an explicit URL.

Precedence: the environment variable SALESFORCE_ELT_WAREHOUSE_URL (tools such as Alembic run
outside Airflow), else the Airflow connection ``settings.WAREHOUSE_CONN_ID``
(``salesforce_warehouse``; host, port, login, password, schema = database, libpq options such
as ``sslmode`` in the extras). The password is only ever handed to libpq, never logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from salesforce_elt import settings

if TYPE_CHECKING:
    import psycopg
    import sqlalchemy as sa

URL_ENV = settings.WAREHOUSE_URL_ENV

# Connection extras passed through to libpq; anything else in extras is ignored.
_LIBPQ_OPTIONS = frozenset(
    {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name", "options",
     "target_session_attrs", "keepalives", "keepalives_idle"}
)


def _from_airflow_connection(conn_id: str) -> dict[str, object]:
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    params: dict[str, object] = {
        "host": conn.host or None,
        "port": conn.port or None,
        "user": conn.login or None,
        "password": conn.password or None,
        "dbname": conn.schema or None,
    }
    extra = conn.extra_dejson or {}
    params.update({k: v for k, v in extra.items() if k in _LIBPQ_OPTIONS})
    return {k: v for k, v in params.items() if v is not None}


def conninfo(conn_id: str | None = None) -> str:
    """A libpq conninfo string for the warehouse (contains the password: do not log it)."""
    from psycopg.conninfo import make_conninfo

    url = settings.warehouse_url()
    if url and conn_id is None:
        return make_conninfo(_libpq_url(url))
    params = _from_airflow_connection(conn_id or settings.WAREHOUSE_CONN_ID)
    params.setdefault("application_name", "salesforce_elt")
    return make_conninfo(**params)


def _libpq_url(url: str) -> str:
    """libpq reads postgresql:// URLs but not SQLAlchemy's ``postgresql+psycopg://`` form."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}"


def connect(conn_id: str | None = None, **kwargs) -> psycopg.Connection:
    import psycopg

    return psycopg.connect(conninfo(conn_id), **kwargs)


def to_sqlalchemy_url(url: str | sa.URL) -> sa.URL:
    """``postgresql://...`` -> ``postgresql+psycopg://...`` (psycopg 3 is the installed driver)."""
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    return parsed.set(drivername="postgresql+psycopg") if parsed.drivername == "postgresql" else parsed


def sqlalchemy_url(conn_id: str | None = None) -> sa.URL:
    """The warehouse as a SQLAlchemy URL with the psycopg 3 driver (for Alembic)."""
    import sqlalchemy as sa

    url = settings.warehouse_url()
    if url and conn_id is None:
        return to_sqlalchemy_url(url)
    params = _from_airflow_connection(conn_id or settings.WAREHOUSE_CONN_ID)
    query = {k: str(params.pop(k)) for k in list(params) if k in _LIBPQ_OPTIONS}
    return sa.URL.create(
        "postgresql+psycopg",
        username=params.get("user"),
        password=params.get("password"),
        host=params.get("host"),
        port=params.get("port"),
        database=params.get("dbname"),
        query=query,
    )
