"""Preflight: is everything a sync needs reachable and in shape? One line per finding.

Checks the Salesforce connection (defined, logs in, describes each object, API budget above the
reserve) and the warehouse (reachable, Alembic migrations at head). Each problem names the
connection or setting to fix; nothing here prints a stack trace or a secret. Used by
``python -m salesforce_elt check`` and by the ``preflight`` task that starts every sync DAG; the
command also checks that every setting parses (``check_settings``; the task leaves that to the
task that reads the setting, as before).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from salesforce_elt import settings
from salesforce_elt.engine.registry import warehouse_schema
from salesforce_elt.ops import budget

Level = Literal["ok", "warn", "fail"]
REPO_ROOT = settings.project_home()
VERSION_TABLE = "alembic_version_salesforce_elt"
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class Finding:
    level: Level
    subject: str  # the connection, setting or param concerned
    message: str
    fix: str | None = None

    def line(self) -> str:
        fix = f" -> {self.fix}" if self.fix else ""
        return f"{self.level.upper():4} {self.subject}: {self.message}{fix}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


# ---- settings ------------------------------------------------------------------------------------
def check_settings() -> list[Finding]:
    """One ``fail`` per setting a sync reads whose value does not parse (named with its source).

    The API reserve is checked with the budget (``check_salesforce``).
    """
    from salesforce_elt.airflow import assets

    readers = (
        settings.staging_retention_days,
        settings.reject_threshold,
        settings.drift_guard,
        settings.drift_fails,
        settings.formula_refresh,
        budget.budget_action,
        assets.warehouse_base_uri,
    )
    findings = []
    for read in readers:
        try:
            read()
        except ValueError as exc:
            findings.append(Finding("fail", "settings", str(exc), "fix the value, or unset it for the default"))
    return findings


# ---- Salesforce ----------------------------------------------------------------------------------
def check_salesforce(conn_id: str, objects: Sequence[str], *, api: str = "bulk") -> list[Finding]:
    """Login, describe each object, read /limits (about 2 + len(objects) API calls)."""
    from salesforce_elt.airflow.hooks.errors import SalesforceApiError, SalesforceAuthError
    from salesforce_elt.airflow.hooks.retry import RetryPolicy
    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook

    # A preflight answers fast: one retry, short waits, no five-minute backoff on a dead host.
    hook = SalesforceApiHook(
        conn_id, retry=RetryPolicy(max_retries=1, backoff_base=0.2), timeout=(10.0, 60.0)
    )
    env = f"AIRFLOW_CONN_{conn_id.upper()}"
    try:
        hook.get_connection(conn_id)
    except Exception as exc:  # Airflow's not-found error class differs between versions
        return [
            Finding(
                "fail",
                conn_id,
                f"connection not defined ({type(exc).__name__})",
                f"create it in Airflow or set {env}",
            )
        ]
    advice = _login_url_advice(hook, conn_id)
    try:
        token = hook.authenticate()
    except SalesforceAuthError as exc:
        return [
            *advice,
            Finding(
                "fail",
                conn_id,
                f"login refused: {exc}",
                f"fix the credentials of connection {conn_id} (login/password, consumer_key/"
                "consumer_secret, private key) or its auth_flow",
            ),
        ]
    except SalesforceApiError as exc:
        return [
            *advice,
            Finding(
                "fail",
                conn_id,
                f"Salesforce unreachable: {exc}",
                f"check login_url (or domain) and ca_bundle of connection {conn_id}, and the network",
            ),
        ]
    except Exception as exc:  # bad extras, unreadable key file, ...
        return [
            Finding(
                "fail", conn_id, f"cannot log in: {_first_line(exc)}", f"fix connection {conn_id}'s extras"
            )
        ]
    findings = [*advice, Finding("ok", conn_id, f"logged in to {token.instance_url}")]
    for name in objects:
        try:
            described = hook.describe(name)
        except SalesforceApiError as exc:
            skipped = _missing_relation_object(name, exc)
            if skipped is not None:
                findings.append(skipped)
                continue
            findings.append(
                Finding(
                    "fail",
                    f"{conn_id} {name}",
                    f"describe failed: {exc}",
                    f"grant the integration user read access to {name}",
                )
            )
            continue
        if not described.get("queryable", True):
            findings.append(
                Finding(
                    "fail",
                    f"{conn_id} {name}",
                    "not queryable for this user",
                    f"grant the integration user read access to {name}",
                )
            )
        else:
            findings.append(
                Finding("ok", f"{conn_id} {name}", f"described ({len(described.get('fields', []))} fields)")
            )
    findings.append(_budget(hook, conn_id, api))
    return findings


def _missing_relation_object(name: str, exc: Exception) -> Finding | None:
    """A warning for an object that only exists with Shared Activities, when the org lacks it."""
    from salesforce_elt.engine.registry import get_object, missing_in_org

    try:
        spec = get_object(name)
    except KeyError:
        return None
    reason = missing_in_org(spec, getattr(exc, "error_code", None))
    if reason is None:
        return None
    return Finding("warn", name, f"{reason}; its DAG {spec.resolved_dag_id} ends skipped",
                   "nothing to fix unless the org should have Shared Activities")


def _login_url_advice(hook: object, conn_id: str) -> list[Finding]:
    """A warning when the client credentials flow is pointed at login.salesforce.com or
    test.salesforce.com: Salesforce serves that flow only on the org's My Domain."""
    from salesforce_elt.airflow.hooks.oauth import client_credentials_on_generic_host

    try:
        settings = hook.auth_settings  # type: ignore[attr-defined]
    except Exception:  # bad extras: the login attempt names them
        return []
    if settings is None or not client_credentials_on_generic_host(settings):
        return []
    return [
        Finding(
            "warn",
            f"{conn_id} login_url",
            f"auth_flow client_credentials at {settings.login_url}: Salesforce refuses this flow there "
            "(invalid_grant: request not supported on this domain)",
            "set login_url to the org's My Domain, https://<MyDomainName>.my.salesforce.com "
            "(sandbox: https://<MyDomainName>--<SandboxName>.sandbox.my.salesforce.com)",
        )
    ]


def _budget(hook: object, conn_id: str, api: str) -> Finding:
    from salesforce_elt.airflow.hooks.errors import SalesforceApiError

    try:
        reserve = budget.api_reserve()
    except ValueError as exc:
        return Finding("fail", budget.RESERVE_ENV, str(exc))
    try:
        limits = hook.limits()  # type: ignore[attr-defined]
    except SalesforceApiError as exc:
        return Finding("warn", f"{conn_id} limits", f"cannot read /limits: {exc}")
    try:
        found = budget.check_limits(limits, reserve, api, what="extract")
    except budget.BudgetExhausted as exc:
        return Finding(
            "warn",
            f"{conn_id} API budget",
            str(exc),
            f"wait for the 24 h allowance to recover, or lower {budget.RESERVE_ENV}",
        )
    return Finding(
        "ok", f"{conn_id} API budget", "; ".join(str(a) for a in found) + f" (reserve {reserve:.0%})"
    )


# ---- warehouse -----------------------------------------------------------------------------------
def alembic_heads() -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(Config(str(REPO_ROOT / "alembic.ini"))).get_heads())


def check_warehouse(conn_id: str | None = None) -> list[Finding]:
    """Connect (10 s timeout) and compare the Alembic version with the migrations' head."""
    import psycopg
    from psycopg import sql

    from salesforce_elt.engine import warehouse

    use_url = conn_id is None and settings.warehouse_url()
    subject = settings.WAREHOUSE_URL_ENV if use_url else (conn_id or settings.WAREHOUSE_CONN_ID)
    fix_conn = (
        f"fix {subject}"
        if use_url
        else f"fix connection {subject} (host, port, login, password, schema = database)"
    )
    try:
        conn = warehouse.connect(conn_id, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        return [Finding("fail", subject, f"warehouse unreachable: {_first_line(exc)}", fix_conn)]
    except Exception as exc:  # connection not defined
        return [Finding("fail", subject, f"warehouse connection unusable: {_first_line(exc)}", fix_conn)]
    schema = warehouse_schema()
    with conn:
        server = conn.info.parameter_status("server_version")
        findings = [Finding("ok", subject, f"reachable (PostgreSQL {server}, database {conn.info.dbname})")]
        try:
            rows = conn.execute(
                sql.SQL("SELECT version_num FROM {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(VERSION_TABLE)
                )
            ).fetchall()
        except psycopg.errors.UndefinedTable:
            rows = []
    current = {r[0] for r in rows}
    heads = alembic_heads()
    upgrade = "run `python -m salesforce_elt migrate` (or docker compose's airflow-init)"
    if not current:
        findings.append(Finding("fail", subject, f"no migrations applied in schema {schema}", upgrade))
    elif current != heads:
        findings.append(
            Finding(
                "fail",
                subject,
                f"migrations at {', '.join(sorted(current))}, head is {', '.join(sorted(heads))}",
                upgrade,
            )
        )
    else:
        findings.append(Finding("ok", subject, f"migrations at head ({', '.join(sorted(heads))})"))
    return findings


def problems(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.level == "fail"]


def verdict(findings: Sequence[Finding]) -> str:
    bad = problems(findings)
    head = f"preflight: {len(bad)} problem(s)" if bad else "preflight: OK"
    return "\n".join([head, *(f.line() for f in findings)])
