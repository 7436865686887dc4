"""Every knob of the package, in one place: connection ids, schema, staging, thresholds, guards.

Each setting is read, in this order, from
1. its own environment variable ``SALESFORCE_ELT_<KEY>`` (the historical name; wins when set and
   not blank, so existing deployments keep working);
2. the Airflow configuration, section ``[salesforce_elt]`` option ``<key>``: ``airflow.cfg`` or
   ``AIRFLOW__SALESFORCE_ELT__<KEY>`` (read through the Task SDK's ``conf`` when Airflow is
   importable; tools run without Airflow skip this step);
3. the default below.

``home`` is the one environment-only setting. Values are read on every call (nothing is cached),
so a changed variable takes effect in the next task. A value that does not parse raises a
``ValueError`` naming the setting and where it came from.
``provider_info.get_provider_info()`` declares the section from ``SETTINGS`` so that
``airflow config list --section salesforce_elt`` shows it. This module imports nothing heavy:
Airflow's provider discovery loads it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

SECTION = "salesforce_elt"
ENV_PREFIX = "SALESFORCE_ELT_"
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})

OptionType = Literal["string", "boolean", "integer", "float"]


@dataclass(frozen=True)
class Setting:
    key: str  # option name in [salesforce_elt]
    type: OptionType
    default: str | None  # None: no fixed default (computed, or unset)
    description: str
    sensitive: bool = False
    in_airflow_config: bool = True  # False: environment only (needed before Airflow is configured)

    @property
    def env(self) -> str:
        return f"{ENV_PREFIX}{self.key.upper()}"

    @property
    def airflow_env(self) -> str:
        return f"AIRFLOW__{SECTION.upper()}__{self.key.upper()}"


_SETTINGS = (
    Setting("salesforce_conn_id", "string", "salesforce_default", "Airflow connection id of the Salesforce org."),
    Setting("warehouse_conn_id", "string", "salesforce_warehouse", "Airflow connection id of the warehouse."),
    Setting("smtp_conn_id", "string", "smtp_default", "Airflow connection id used to send failure alerts."),
    Setting(
        "warehouse_url",
        "string",
        None,
        "postgresql://... URL of the warehouse for tools run outside Airflow (Alembic, scripts); "
        "when unset they use the warehouse connection. Operators always use the connection.",
        sensitive=True,
    ),
    Setting("schema", "string", "salesforce", "Warehouse schema holding the synced tables and sync_runs."),
    Setting(
        "staging_url",
        "string",
        None,
        "Where extract, transform and load hand files to each other (any ObjectStoragePath URL); "
        "default file://$AIRFLOW_HOME/salesforce_staging. Use s3:// or gs:// across Celery hosts.",
    ),
    Setting("staging_retention_days", "integer", "3", "Staging files of finished runs are deleted after this."),
    Setting(
        "reject_threshold", "float", "0.01", "Share of rows that may fail conversion before a transform fails."
    ),
    Setting(
        "transform_while_downloading",
        "boolean",
        "true",
        "A Bulk extract converts each results page as it lands, overlapping the download; the transform "
        "task then checks the rejects. false: the transform task converts every part after the extract.",
    ),
    Setting("alert_emails", "string", "", "Comma-separated recipients of failure alert emails (read at DAG parse)."),
    Setting(
        "api_reserve",
        "float",
        "0.20",
        "Share of the org's daily API allowance (DailyApiRequests, DailyBulkV2QueryJobs) left to other integrations.",
    ),
    Setting(
        "budget_action",
        "string",
        "skip",
        "What an extract does when the reserve is reached: skip (the run ends skipped) or fail (it alerts).",
    ),
    Setting("drift_guard", "boolean", "true", "Describe each object before a run and drop fields Salesforce removed."),
    Setting("drift_fails", "boolean", "false", "The daily schema audit fails (and alerts) on drift."),
    Setting(
        "formula_refresh",
        "boolean",
        "false",
        "The daily schema audit triggers a full refresh of DAGs whose tables hold formula fields.",
    ),
    Setting(
        "warehouse_asset_uri",
        "string",
        "postgres://salesforce-warehouse:5432/warehouse",
        "postgres://host:port/database naming the warehouse in Asset URIs (no credentials).",
    ),
    Setting(
        "home",
        "string",
        None,
        "Folder holding sql/, migrations/ and alembic.ini; default: the checkout the package runs from. "
        "Environment only: it locates the package's own files (the Docker image sets it).",
        in_airflow_config=False,
    ),
)
SETTINGS: dict[str, Setting] = {s.key: s for s in _SETTINGS}

WAREHOUSE_URL_ENV = SETTINGS["warehouse_url"].env


# ---- reading --------------------------------------------------------------------------------------
def _airflow_option(key: str) -> str | None:
    try:
        from airflow.sdk import conf
    except ImportError:  # a tool run without Airflow installed
        return None
    value = conf.get(SECTION, key, fallback=None)
    return None if value is None else str(value)


def lookup(key: str) -> tuple[str | None, str]:
    """The raw value of a setting and where it came from (for error messages)."""
    setting = SETTINGS[key]
    value = os.environ.get(setting.env)
    if value is not None and value.strip():
        return value, setting.env
    value = _airflow_option(key) if setting.in_airflow_config else None
    if value is not None and value.strip():
        return value, f"[{SECTION}] {key}"
    return setting.default, f"{setting.env} (default)"


def get(key: str) -> str | None:
    return lookup(key)[0]


def get_str(key: str) -> str:
    return (get(key) or "").strip()


def parse_bool(value: str, source: str) -> bool:
    """The one boolean parser: true/false, yes/no, on/off, 1/0 (any case); anything else is an error."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{source}={value!r} is not a boolean (true/false, yes/no, on/off, 1/0)")


def get_bool(key: str) -> bool:
    value, source = lookup(key)
    return parse_bool(value or "", source)


def get_int(key: str) -> int:
    value, source = lookup(key)
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{source}={value!r} is not a whole number") from None


def get_float(key: str, *, hint: str = "") -> float:
    value, source = lookup(key)
    try:
        return float(str(value).strip())
    except ValueError:
        raise ValueError(f"{source}={value!r} is not a number{hint}") from None


def get_share(key: str, example: str) -> float:
    """A share in [0, 1)."""
    value = get_float(key, hint=f" (a share such as {example})")
    if not 0.0 <= value < 1.0:
        raw, source = lookup(key)
        raise ValueError(f"{source}={raw!r} must be a share in [0, 1), e.g. {example}")
    return value


def get_choice(key: str, choices: tuple[str, ...]) -> str:
    raw, source = lookup(key)
    value = (raw or "").strip().lower()
    if value not in choices:
        raise ValueError(f"{source}={value!r} must be one of {', '.join(choices)}")
    return value


# ---- the settings, named as the rest of the package uses them -------------------------------------
def salesforce_conn_id() -> str:
    return get_str("salesforce_conn_id")


def warehouse_conn_id() -> str:
    return get_str("warehouse_conn_id")


def smtp_conn_id() -> str:
    return get_str("smtp_conn_id")


_CONSTANTS = {
    "SALESFORCE_CONN_ID": salesforce_conn_id,
    "WAREHOUSE_CONN_ID": warehouse_conn_id,
    "SMTP_CONN_ID": smtp_conn_id,
}


def __getattr__(name: str) -> str:
    """``settings.WAREHOUSE_CONN_ID`` and friends, read when used (importing this stays cheap)."""
    if name in _CONSTANTS:
        return _CONSTANTS[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def project_home() -> Path:
    """The folder holding sql/, migrations/ and alembic.ini.

    In a checkout it is the repository (plugins/ sits beside them); the Docker image puts
    plugins/ under /opt/airflow and the rest under SALESFORCE_ELT_HOME (/opt/salesforce_elt).
    """
    configured = get_str("home")
    return Path(configured) if configured else Path(__file__).resolve().parents[2]


def warehouse_url() -> str | None:
    """An explicit warehouse URL (postgresql://...) for tools run outside Airflow (Alembic, scripts).

    When unset, they use the Airflow connection WAREHOUSE_CONN_ID; operators always use the
    connection.
    """
    return get_str("warehouse_url") or None


def warehouse_schema() -> str:
    return get_str("schema")


def staging_base() -> str:
    """Where extract/transform hand files to each other: any ObjectStoragePath URL.

    Default: file:// under AIRFLOW_HOME. On CeleryExecutor point it at shared storage
    (s3://bucket/prefix, gs://...) so tasks on different workers see the same files.
    """
    configured = get_str("staging_url")
    if configured:
        return configured.rstrip("/")
    home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    return f"file://{home / 'salesforce_staging'}"


def staging_retention_days() -> int:
    return get_int("staging_retention_days")


def reject_threshold() -> float:
    """Share of rows that may fail conversion before the transform fails the run (default 1 %)."""
    return get_float("reject_threshold")


def transform_while_downloading() -> bool:
    return get_bool("transform_while_downloading")


def alert_recipients() -> list[str]:
    return [addr.strip() for addr in get_str("alert_emails").split(",") if addr.strip()]


def api_reserve() -> float:
    return get_share("api_reserve", "0.2")


def budget_action(choices: tuple[str, ...] = ("skip", "fail")) -> str:
    return get_choice("budget_action", choices)


def drift_guard() -> bool:
    return get_bool("drift_guard")


def drift_fails() -> bool:
    return get_bool("drift_fails")


def formula_refresh() -> bool:
    return get_bool("formula_refresh")


def warehouse_asset_uri() -> str:
    return get_str("warehouse_asset_uri")


# ---- the [salesforce_elt] section as Airflow's provider info declares it ------------------------
def provider_config(version_added: str) -> dict[str, Any]:
    """The ``config`` entry of ``get_provider_info()`` (Airflow's provider_info.schema.json)."""
    options: dict[str, dict[str, Any]] = {}
    for s in _SETTINGS:
        if not s.in_airflow_config:
            continue
        options[s.key] = {
            "description": f"{s.description} Environment: {s.env} (wins when set) or {s.airflow_env}.",
            "version_added": version_added,
            "type": s.type,
            "example": None,
            "default": s.default,
        }
        if s.sensitive:
            options[s.key]["sensitive"] = True
    return {
        SECTION: {
            "description": "Salesforce -> PostgreSQL ELT. Each option can also be set with its "
            f"{ENV_PREFIX}<OPTION> environment variable, which takes precedence.",
            "options": options,
        }
    }
