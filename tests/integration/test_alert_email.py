"""Failure alerts end to end: a sync that cannot log in to Salesforce emails the configured
recipients through a real SMTP server (aiosmtpd on 127.0.0.1) with the DAG, task, run, window,
error and a link to the log."""

from __future__ import annotations

import json
import socket
from email import message_from_bytes, policy
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller

from tests.support.airflow_env import connections_to
from tests.support.dags import run_dag, task_states
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

ORG = {"contacts": 50, "seed": 3}
RECIPIENTS = ["oncall@example.com", "data-team@example.com"]


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(
            (list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


def test_a_failed_sync_emails_the_recipients_what_failed_and_where_the_log_is(airflow_db, org, warehouse_db, inbox):
    handler, port = inbox
    wrong = {**org.connection_info, "client_secret": "not-the-secret"}
    smtp = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "airflow@example.com"},
    }
    with connections_to(
        wrong,
        warehouse_db,
        SALESFORCE_ELT_ALERT_EMAILS=" , ".join(RECIPIENTS),
        AIRFLOW_CONN_SMTP_DEFAULT=json.dumps(smtp),
    ):
        dag_run = run_dag()  # the DAG is built here, after the recipients are set
    assert dag_run.state == "failed" and task_states(dag_run)["preflight"] == "failed"
    wait_for("the alert mails", lambda: handler.messages, timeout=10, interval=0.2)
    task_mails = [(to, m) for to, m in handler.messages if ".preflight failed" in m["Subject"]]
    assert task_mails, [m["Subject"] for _to, m in handler.messages]
    to, message = task_mails[0]
    assert sorted(to) == sorted(RECIPIENTS)
    assert (
        message["Subject"] == f"[salesforce-elt] salesforce_sync_contacts.preflight failed ({dag_run.run_id})"
    )
    body = message.get_body(("html",)).get_content()
    assert "<td>salesforce_sync_contacts</td>" in body
    assert "preflight (try 1)" in body and f"<td>{dag_run.run_id}</td>" in body
    assert "manual run: from the high-water mark to now" in body  # the window this run was for
    assert "login refused" in body and "invalid_client" in body  # the error, as Salesforce gave it
    assert "not-the-secret" not in body  # never the credentials
    link = f"http://localhost:8080/dags/salesforce_sync_contacts/runs/{quote(dag_run.run_id)}/tasks/preflight?try_number=1"
    assert f'<a href="{link}">' in body  # the UI page of the failed attempt, with its log
