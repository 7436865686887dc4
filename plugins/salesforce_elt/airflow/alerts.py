"""Failure alerts and failure bookkeeping for every sync DAG and task.

With recipients configured (SALESFORCE_ELT_ALERT_EMAILS, read when the DAGs are built), failures
are emailed through the SMTP provider's ``SmtpNotifier`` over the ``smtp_default`` connection
(Airflow 3's supported path; the ``email_on_failure`` default_args are deprecated). A failure is
always logged in one readable line too, and a failed task leaves a ``failed`` row in
``sync_runs`` (monitoring.record_task_failure), so a deployment without SMTP still shows what broke.
"""

from __future__ import annotations

import copy
import logging
from typing import Any
from urllib.parse import quote

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import BaseNotifier

from salesforce_elt import settings

log = logging.getLogger(__name__)

SUBJECT = "[salesforce-elt] {{ dag.dag_id }}{% if ti is defined %}.{{ ti.task_id }}{% endif %} failed ({{ run_id }})"

# The values a manual run may lack (data interval, exception) go through `default`: the DAG's
# Jinja environment is strict about undefined names.
HTML = """\
<h3>Salesforce sync failed</h3>
<table>
<tr><th align="left">DAG</th><td>{{ dag.dag_id }}</td></tr>
{% if ti is defined %}<tr><th align="left">Task</th><td>{{ ti.task_id }} (try {{ ti.try_number }})</td></tr>{% endif %}
<tr><th align="left">Run</th><td>{{ run_id }}</td></tr>
<tr><th align="left">Window</th><td>{{ sync_window }}</td></tr>
<tr><th align="left">Error</th><td><pre>{{ exception | default(reason | default('see the log', true), true) }}</pre></td></tr>
<tr><th align="left">Log</th><td><a href="{{ log_link }}">{{ log_link }}</a></td></tr>
</table>
<p>Fix what the error names, then clear the failed task (or trigger the DAG again): the window is
not lost, the high-water mark only moves when a load succeeds.</p>
"""


def _extract_window(ti: Any) -> dict[str, Any] | None:
    """The window the extract of this task's chain computed (its XCom), when it got that far."""
    task_id = ti.task_id
    extract_id = f"{task_id.rsplit('.', 1)[0]}.extract" if "." in task_id else "extract"
    try:
        value = ti.xcom_pull(task_ids=extract_id)
    except Exception:  # the extract itself failed: no XCom
        return None
    return (value or {}).get("window") if isinstance(value, dict) else None


def describe_window(context: Any) -> str:
    """The sync window in words: the extract's own, else the run's data interval and params."""
    ti = context.get("ti")
    window = _extract_window(ti) if ti is not None else None
    if window:
        text = f"{window.get('start') or 'everything'} → {window.get('end')}"
        return f"{text} ({window['reason']})" if window.get("reason") else text
    params = context.get("params") or {}
    if params.get("full_refresh"):
        return "full refresh"
    if params.get("start"):
        return f"{params.get('start')} → {params.get('end') or 'now'} (start/end params)"
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start and end and end > start:
        return f"data interval {start.isoformat()} → {end.isoformat()} (minus the lookback)"
    return "manual run: from the high-water mark to now"


def log_link(context: Any) -> str:
    ti = context.get("ti")
    if ti is not None and getattr(ti, "log_url", None):
        return str(ti.log_url)
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="http://localhost:8080/").rstrip("/")
    dag_id = getattr(context.get("dag"), "dag_id", "")
    return f"{base}/dags/{dag_id}/runs/{quote(str(context.get('run_id') or ''))}"


class FailureEmailNotifier(SmtpNotifier):
    """SmtpNotifier that adds the sync window and the log link, and can be called many times.

    Airflow renders a notifier's templates in place; one DAG object (``dag.test()``, a long-lived
    DAG processor) would otherwise send every later failure with the first one's text.
    """

    def __call__(self, *args: Any) -> None:
        fresh = copy.copy(self)
        fresh.__dict__.pop("hook", None)  # a fresh SMTP connection per message
        if len(args) == 1:
            context = args[0]
            context["sync_window"] = describe_window(context)
            context["log_link"] = log_link(context)
        SmtpNotifier.__call__(fresh, *args)


class FailureLogNotifier(BaseNotifier):
    """Logs a one-line summary of a failure (always attached, whatever else is configured)."""

    def notify(self, context: Any) -> None:
        ti = context.get("ti")
        log.error(
            "Salesforce sync failed: dag=%s task=%s run=%s error=%s",
            getattr(context.get("dag"), "dag_id", "?"),
            getattr(ti, "task_id", "-"),
            context.get("run_id"),
            context.get("exception") or context.get("reason"),
        )


class SyncRunFailureRecorder(BaseNotifier):
    """A ``failed`` sync_runs row for a task that failed for good (the loader records its own)."""

    def notify(self, context: Any) -> None:
        if context.get("task") is None:  # a DAG-level callback: the task's own callback recorded it
            return
        from salesforce_elt.ops import monitoring

        monitoring.record_task_failure(context)


def failure_callbacks() -> list[Any]:
    """Notifiers to run when a sync task or DAG run fails."""
    callbacks: list[Any] = [FailureLogNotifier(), SyncRunFailureRecorder()]
    recipients = settings.alert_recipients()
    if recipients:
        callbacks.append(
            FailureEmailNotifier(
                to=recipients,
                subject=SUBJECT,
                html_content=HTML,
                smtp_conn_id=settings.SMTP_CONN_ID,
            )
        )
    return callbacks
