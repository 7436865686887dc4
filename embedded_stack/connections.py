"""Airflow connection payloads (AIRFLOW_CONN_<ID> JSON) for the embedded stack and the tests."""

from __future__ import annotations

import json
from urllib.parse import unquote, urlsplit

from salesforce_elt.airflow.provider_info import CONNECTION_TYPE


def salesforce_connection(
    info: dict,
    *,
    auth_flow: str = "client_credentials",
    version: str = "59.0",
    jwt_audience: str | None = None,
    conn_type: str = CONNECTION_TYPE,
) -> str:
    """The `salesforce_default` connection for an emulator's connection.json (or a real org's equivalent).

    ``jwt_audience`` overrides the JWT bearer audience the hook derives from ``login_url``.
    ``conn_type``: the project's own type by default, whose hook the UI's Test button runs (the
    provider's ``salesforce`` type works for the project's hooks too, but its Test button does not).
    """
    extra = {
        "login_url": info["login_url"],
        "auth_flow": auth_flow,
        "consumer_key": info["client_id"],
        "consumer_secret": info["client_secret"],
        "security_token": info.get("security_token", ""),
        "ca_bundle": info["ca_file"],
        "version": version,
    }
    if auth_flow == "jwt" and info.get("jwt_private_key_file"):
        extra["private_key_file_path"] = info["jwt_private_key_file"]
    if jwt_audience:
        extra["jwt_audience"] = jwt_audience
    return json.dumps(
        {
            "conn_type": conn_type,
            "login": info["username"],
            "password": info["password"],
            # Not used to log in (login_url has it); a stored connection without a port fails
            # Airflow 3.3.2's Test button (the list's button sends the missing port as 0).
            "port": urlsplit(info["login_url"]).port or 443,
            "extra": extra,
        }
    )


def postgres_connection(url: str) -> str:
    """The `salesforce_warehouse` connection for a postgresql:// URL."""
    parts = urlsplit(url)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": parts.hostname,
            "port": parts.port or 5432,
            "login": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "schema": parts.path.lstrip("/") or "postgres",
        }
    )


def postgres_url_from_connection(conn_json: str) -> str:
    """A postgresql:// URL from an AIRFLOW_CONN_* value (JSON or URI form)."""
    from urllib.parse import quote

    if not conn_json.lstrip().startswith("{"):
        return conn_json.replace("postgres://", "postgresql://", 1)
    conn = json.loads(conn_json)
    auth = quote(conn.get("login") or "", safe="")
    if conn.get("password"):
        auth += ":" + quote(conn["password"], safe="")
    host = f"{conn.get('host') or '127.0.0.1'}:{conn.get('port') or 5432}"
    return f"postgresql://{auth}@{host}/{conn.get('schema') or 'postgres'}"
