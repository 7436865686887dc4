"""Project settings: connection ids and knobs, read from the environment with safe defaults.

Everything a person may need to change is here, in one place, named as the README documents it.
"""

from __future__ import annotations

import os
from pathlib import Path

SALESFORCE_CONN_ID = os.environ.get("SALESFORCE_ELT_SALESFORCE_CONN_ID", "salesforce_default")
WAREHOUSE_CONN_ID = os.environ.get("SALESFORCE_ELT_WAREHOUSE_CONN_ID", "salesforce_warehouse")
WAREHOUSE_URL_ENV = "SALESFORCE_ELT_WAREHOUSE_URL"
SMTP_CONN_ID = os.environ.get("SALESFORCE_ELT_SMTP_CONN_ID", "smtp_default")


def project_home() -> Path:
    """The folder holding sql/, migrations/ and alembic.ini.

    In a checkout it is the repository (plugins/ sits beside them); the Docker image puts
    plugins/ under /opt/airflow and the rest under SALESFORCE_ELT_HOME (/opt/salesforce_elt).
    """
    configured = os.environ.get("SALESFORCE_ELT_HOME")
    return Path(configured) if configured else Path(__file__).resolve().parents[2]


def warehouse_url() -> str | None:
    """An explicit warehouse URL (postgresql://...) for tools run outside Airflow (Alembic, scripts).

    When unset, they use the Airflow connection WAREHOUSE_CONN_ID; operators always use the
    connection.
    """
    return os.environ.get(WAREHOUSE_URL_ENV) or None


def staging_base() -> str:
    """Where extract/transform hand files to each other: any ObjectStoragePath URL.

    Default: file:// under AIRFLOW_HOME. On CeleryExecutor point it at shared storage
    (s3://bucket/prefix, gs://...) so tasks on different workers see the same files.
    """
    configured = os.environ.get("SALESFORCE_ELT_STAGING_URL")
    if configured:
        return configured.rstrip("/")
    home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    return f"file://{home / 'salesforce_staging'}"


def staging_retention_days() -> int:
    return int(os.environ.get("SALESFORCE_ELT_STAGING_RETENTION_DAYS", "3"))


def reject_threshold() -> float:
    """Share of rows that may fail conversion before the transform fails the run (default 1 %)."""
    return float(os.environ.get("SALESFORCE_ELT_REJECT_THRESHOLD", "0.01"))


def alert_recipients() -> list[str]:
    raw = os.environ.get("SALESFORCE_ELT_ALERT_EMAILS", "")
    return [addr.strip() for addr in raw.split(",") if addr.strip()]
