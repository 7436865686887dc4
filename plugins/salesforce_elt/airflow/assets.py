"""Each warehouse table as an Airflow Asset, updated by its DAG's load task with the run's stats.

Downstream DAGs (dbt and the like) schedule on them: ``schedule=[table_asset("sf_contacts")]``.
Name: ``<schema>.<table>`` (what people search for in the UI). URI: the postgres provider's form
``postgres://<host>:<port>/<database>/<schema>/<table>``; the host part comes from
``SALESFORCE_ELT_WAREHOUSE_ASSET_URI`` (``postgres://host:port/database``, default
``postgres://salesforce-warehouse:5432/warehouse``), never from the connection: DAG parsing must
not reach the metadata DB or the network, and the URI must stay the same when a password rotates.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from airflow.sdk import Asset

from salesforce_elt import settings
from salesforce_elt.engine.registry import warehouse_schema

ASSET_URI_ENV = settings.SETTINGS["warehouse_asset_uri"].env
DEFAULT_BASE = settings.SETTINGS["warehouse_asset_uri"].default


def warehouse_base_uri() -> str:
    """``postgres://host:port/database`` naming the warehouse in asset URIs."""
    value, source = settings.lookup("warehouse_asset_uri")
    raw = (value or "").strip().rstrip("/")
    parts = urlsplit(raw)
    database = parts.path.strip("/")
    if (
        parts.scheme not in ("postgres", "postgresql")
        or not parts.hostname
        or not database
        or "/" in database
    ):
        raise ValueError(f"{source}={raw!r} must look like postgres://host:5432/database")
    if parts.username or parts.password:
        raise ValueError(f"{source} must not contain credentials (asset URIs are shown in the UI)")
    return f"postgres://{parts.hostname}:{parts.port or 5432}/{database}"


def table_asset(table: str) -> Asset:
    schema = warehouse_schema()
    return Asset(
        name=f"{schema}.{table}",
        uri=f"{warehouse_base_uri()}/{schema}/{table}",
        group="salesforce",
    )
