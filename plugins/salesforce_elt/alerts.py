"""Failure alerts for every sync DAG and task.

With recipients configured (SALESFORCE_ELT_ALERT_EMAILS), failures are emailed through the SMTP
provider's ``SmtpNotifier`` over the ``smtp_default`` connection (Airflow 3's supported path; the
``email_on_failure`` default_args are deprecated). A failure is always logged in one readable line
too, so a deployment without SMTP still has a callback that says what broke.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

from salesforce_elt import settings

log = logging.getLogger(__name__)

SUBJECT = "[salesforce-elt] {{ dag.dag_id }}{% if ti is defined %}.{{ ti.task_id }}{% endif %} failed ({{ run_id }})"

# `default` keeps StrictUndefined quiet for keys a manual run has no value for (data interval).
HTML = """\
<h3>Salesforce sync failed</h3>
<table>
<tr><th align="left">DAG</th><td>{{ dag.dag_id }}</td></tr>
{% if ti is defined %}<tr><th align="left">Task</th><td>{{ ti.task_id }} (try {{ ti.try_number }})</td></tr>{% endif %}
<tr><th align="left">Run</th><td>{{ run_id }}</td></tr>
<tr><th align="left">Window</th><td>{{ data_interval_start | default('manual run', true) }} &rarr; {{ data_interval_end | default('now', true) }}
{% if params is defined and params.get('start') %} (params start={{ params.get('start') }} end={{ params.get('end') }}){% endif %}
{% if params is defined and params.get('full_refresh') %} (full refresh){% endif %}</td></tr>
<tr><th align="left">Error</th><td><pre>{{ exception | default(reason | default('see the log', true), true) }}</pre></td></tr>
{% if ti is defined %}<tr><th align="left">Log</th><td><a href="{{ ti.log_url }}">{{ ti.log_url }}</a></td></tr>{% endif %}
</table>
"""


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


def failure_callbacks() -> list[Any]:
    """Notifiers to run when a sync task or DAG run fails."""
    callbacks: list[Any] = [FailureLogNotifier()]
    recipients = settings.alert_recipients()
    if recipients:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        callbacks.append(
            SmtpNotifier(
                to=recipients,
                subject=SUBJECT,
                html_content=HTML,
                smtp_conn_id=settings.SMTP_CONN_ID,
            )
        )
    return callbacks
