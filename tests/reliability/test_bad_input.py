"""Issue 9, case 7: bad input fails with a clear error naming the object, field or row; nothing is committed.

Raw files are corrupted between extract and transform (what a broken proxy or a Salesforce quirk
would hand over); with SALESFORCE_ELT_REJECT_THRESHOLD=0 one bad row fails the run. After each
failure the table is unchanged, and a clean run repairs it.

Awkward but valid text is not bad input: NUL characters (which PostgreSQL cannot store) are removed
and counted, and a lone carriage return stays inside its value, through Bulk and REST alike.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from embedded_stack.connections import salesforce_connection
from salesforce_elt.airflow.triggers.bulk2 import Bulk2QueryJobTrigger
from salesforce_elt.engine import registry
from salesforce_elt.engine.registry import CONTACT, FieldSpec
from salesforce_elt.engine.transform import PartTransformer, TooManyRejects
from tests.reliability.helpers import (
    assert_table_equals_emulator,
    extract_operator,
    load_task,
    run_extract,
    run_pipeline,
    sync_runs,
    table_snapshot,
    task_context,
    transform,
    trigger_event,
    warehouse_rows,
)
from tests.support import equality
from tests.support.logs import captured_logs
from tests.support.salesforce import rest_session


@pytest.fixture
def strict(empty_table, monkeypatch):
    monkeypatch.setenv("SALESFORCE_ELT_REJECT_THRESHOLD", "0")
    return empty_table


def _rewrite_raw(extracted: dict, edit: Callable[[list[list[str]]], list[list[str]]]) -> str:
    """Apply ``edit`` to the first raw part's rows (header first); returns the second row's Id."""
    path = Path(extracted["raw_uri"].removeprefix("file://")) / extracted["files"][0]
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    record_id = rows[2][0]
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(edit(rows))
    return record_id


def _set(column: str, value: str) -> Callable[[list[list[str]]], list[list[str]]]:
    def edit(rows: list[list[str]]) -> list[list[str]]:
        rows[2][rows[0].index(column)] = value
        return rows

    return edit


def _extra_column(rows: list[list[str]]) -> list[list[str]]:
    return [[*rows[0], "Injected__c"], *([*row, "x"] for row in rows[1:])]


def _short_row(rows: list[list[str]]) -> list[list[str]]:
    rows[2] = rows[2][:5]
    return rows


BAD_RAW = {
    # case: (edit, regex the error must match; {id} is the damaged row's Id)
    "malformed_row": (
        _short_row,
        r"Contact: 1 of \d+ rows rejected.*{id} \*: row has 5 fields, the header \d+",
    ),
    "unexpected_column": (
        _extra_column,
        r"Contact: header of part-00000\.csv .*unexpected \['Injected__c'\]",
    ),
    "unparseable_date": (
        _set("Birthdate", "31/02/2024"),
        r"Contact: 1 of \d+ rows rejected.*{id} birthdate: ",
    ),
    "overlong_string": (_set("LastName", "x" * 81), r"Contact: 1 of \d+ rows rejected.*{id} last_name: .*80"),
}


@pytest.mark.parametrize("case", sorted(BAD_RAW))
def test_bad_raw_data_fails_naming_object_and_row_then_a_clean_run_repairs(strict, case):
    edit, pattern = BAD_RAW[case]
    run_id = f"manual__bad_{case}"
    extracted = run_extract(extract_operator("rest"), task_context(run_id, "extract"))
    record_id = _rewrite_raw(extracted, edit)
    with pytest.raises(ValueError, match=pattern.format(id=re.escape(record_id))):
        load_task(transform(extracted, run_id), run_id)
    assert table_snapshot(strict.warehouse) == []  # the load never saw the batch

    run_pipeline(run_id, api="rest", try_number=2)
    assert_table_equals_emulator(strict.warehouse, strict.org)


def test_malformed_csv_quoting_names_the_file_and_line(strict):
    run_id = "manual__bad_quoting"
    extracted = run_extract(extract_operator("rest"), task_context(run_id, "extract"))
    path = Path(extracted["raw_uri"].removeprefix("file://")) / extracted["files"][0]
    with path.open("a", encoding="utf-8") as fh:
        fh.write('0035g0000000001AAA,"unterminated\n')
    with pytest.raises(ValueError, match=r"Contact: part-00000\.csv is not valid CSV: a quoted field is never closed"):
        transform(extracted, run_id)
    assert table_snapshot(strict.warehouse) == []


def test_registry_field_unknown_to_salesforce_is_a_clear_invalid_field(strict, monkeypatch):
    """With the drift guard off, Salesforce's INVALID_FIELD names the object and the field."""
    monkeypatch.setenv("SALESFORCE_ELT_DRIFT_GUARD", "false")
    monkeypatch.setitem(registry.REGISTRY, "Contact", _with_unknown_field())
    for api in ("bulk", "rest"):
        with pytest.raises(Exception, match=r"(?s)INVALID_FIELD.*Nope__c") as err:
            run_extract(extract_operator(api), task_context(f"manual__invalid_field_{api}", "extract"))
        assert "Contact" in str(err.value)
    assert table_snapshot(strict.warehouse) == []


def test_registry_field_unknown_to_salesforce_is_named_by_the_drift_guard(strict, monkeypatch, caplog):
    """With the guard on (the default) the field is left out of the SOQL with a warning naming it."""
    monkeypatch.setitem(registry.REGISTRY, "Contact", _with_unknown_field())
    result = run_extract(extract_operator("rest"), task_context("manual__drift_guard", "extract"))
    assert result["dropped_fields"] == ["Nope__c"]
    assert "Contact: Salesforce no longer has Nope__c" in caplog.text


def _with_unknown_field() -> registry.SObjectSpec:
    return registry.SObjectSpec(
        **{**CONTACT.__dict__, "fields": (*CONTACT.fields, FieldSpec("Nope__c", "nope", "string", length=10))}
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


BAD_CONNECTIONS = {
    "wrong_secret": (lambda info: {**info, "client_secret": "wrong-secret-xyz"}, r"invalid_client"),
    "unreachable_host": (
        lambda info: {**info, "login_url": f"https://127.0.0.1:{_closed_port()}"},
        r"RETRIES_EXHAUSTED.*ConnectionError.*/services/oauth2/token|/services/oauth2/token.*ConnectionError",
    ),
    "untrusted_certificate": (
        lambda info: {**info, "ca_file": "/etc/ssl/certs/ca-certificates.crt"},
        r"SSLError|CERTIFICATE_VERIFY_FAILED|certificate verify failed",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONNECTIONS))
def test_bad_connection_fails_clearly_without_secrets(strict, monkeypatch, case):
    change, pattern = BAD_CONNECTIONS[case]
    info = change(strict.org.connection_info)
    monkeypatch.setenv("AIRFLOW_CONN_SF_BAD", salesforce_connection(info))
    with pytest.raises(Exception, match=pattern) as err:
        run_extract(extract_operator("bulk", conn_id="sf_bad"), task_context(f"manual__{case}", "extract"))
    for secret in (info["client_secret"], info["password"]):
        assert secret not in str(err.value)
    assert table_snapshot(strict.warehouse) == [] and sync_runs(strict.warehouse) == []


def test_tls_is_verified_by_default_a_connection_without_ca_bundle_fails(strict, monkeypatch):
    """The emulator's CA is in no default trust store (REQUESTS_CA_BUNDLE included): no ca_bundle, no data."""
    payload = json.loads(salesforce_connection(strict.org.connection_info))
    del payload["extra"]["ca_bundle"]
    monkeypatch.setenv("AIRFLOW_CONN_SF_NO_CA", json.dumps(payload))
    with pytest.raises(Exception, match=r"SSLError|CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        run_extract(extract_operator("bulk", conn_id="sf_no_ca"), task_context("manual__no_ca", "extract"))
    assert not [e for e in strict.org.audit() if e["kind"] == "oauth"]  # not even the login got through

    # The triggerer's own (aiohttp) login verifies the same way, and fails at once: no retries.
    started = time.monotonic()
    event = trigger_event(
        Bulk2QueryJobTrigger(job_id="750000000000000AAA", conn_id="sf_no_ca", poll_interval=0.1)
    )
    assert event["status"] == "error" and "TLS_VERIFY_FAILED" in event["message"], event
    assert "certificate verify failed" in event["message"] and time.monotonic() - started < 10


# ---- awkward text that is valid: it loads ------------------------------------------------------
def _contact_ids(org, n: int, offset: int) -> list[str]:
    cursor = org.org.query(f"SELECT Id FROM Contact ORDER BY Id LIMIT {n} OFFSET {offset}")
    return [record["Id"] for record in cursor.records()]


def _records_with_nul(org) -> int:
    """Records of the org (deleted ones too: the sync reads queryAll) holding a NUL in any text value."""
    def has_nul(value) -> bool:
        if isinstance(value, dict):
            return any(has_nul(v) for v in value.values())
        return isinstance(value, str) and "\x00" in value

    with rest_session(org) as rest:
        records = equality.salesforce_records(rest, CONTACT)
    return sum(any(has_nul(v) for k, v in r.items() if k != "attributes") for r in records.values())


@pytest.mark.parametrize("api", ["bulk", "rest"])
def test_nul_characters_are_removed_counted_and_named_and_the_rest_loads(strict, api, caplog):
    ids = _contact_ids(strict.org, 3, offset=10 if api == "bulk" else 20)
    strict.org.org.set_values("Contact", {
        ids[0]: {"Department": "Cardio\x00logy", "MailingStreet": "1 Main\x00 St\nUnit\x00 5"},
        ids[1]: {"Title": "\x00\x00"},  # nothing but NULs: NULL
        ids[2]: {"Phone": "\x00555-0100\x00", "Languages__c": "English;\x00French"},
    })
    result = run_pipeline(f"manual__nul_{api}", api=api)

    assert result["errors"] == 0
    assert_table_equals_emulator(strict.warehouse, strict.org)  # field by field, NUL removed
    rows = warehouse_rows(strict.warehouse)
    assert rows[ids[0]]["department"] == "Cardiology"
    assert rows[ids[0]]["mailing_address"]["street"] == "1 Main St\nUnit 5"
    assert rows[ids[1]]["title"] is None
    assert (rows[ids[2]]["phone"], rows[ids[2]]["languages"]) == ("555-0100", ["English", "French"])
    with psycopg.connect(strict.warehouse) as conn:
        (cleaned,) = conn.execute("SELECT records_cleaned FROM salesforce.sync_runs ORDER BY id DESC LIMIT 1").fetchone()
    # Every record holding one (the seeded org has a few of its own) was loaded cleaned, and counted.
    assert cleaned == _records_with_nul(strict.org) >= 3 + 2
    assert f"Contact: NUL characters removed from the text values of {cleaned} record(s)" in caplog.text
    assert all(record_id in caplog.text for record_id in ids)


@pytest.mark.parametrize("api", ["bulk", "rest"])
def test_a_lone_carriage_return_stays_inside_its_value(strict, api):
    """CR not followed by LF once ended the record in the staged CSV: the contact was rejected and a
    second reject row without an Id appeared."""
    ids = _contact_ids(strict.org, 2, offset=30 if api == "bulk" else 40)
    strict.org.org.set_values("Contact", {
        ids[0]: {"Title": "line one\rline two", "MailingStreet": "1 Main St\r\rUnit 5\r"},
        ids[1]: {"Department": "\r", "LastName": 'O\'Brien\r, "Jr."'},
    })
    result = run_pipeline(f"manual__lone_cr_{api}", api=api)

    assert result["errors"] == 0
    assert_table_equals_emulator(strict.warehouse, strict.org)
    rows = warehouse_rows(strict.warehouse)
    assert rows[ids[0]]["title"] == "line one\rline two"
    assert rows[ids[0]]["mailing_address"]["street"] == "1 Main St\r\rUnit 5\r"
    assert (rows[ids[1]]["department"], rows[ids[1]]["last_name"]) == ("\r", 'O\'Brien\r, "Jr."')


def test_rows_rejected_while_downloading_fail_the_transform_task_not_the_extract(strict, monkeypatch):
    """A Bulk extract converts each page as it lands; whether the rejects are too many is still the
    transform task's decision, and a retry of that task with a higher threshold needs no new extract."""
    fields = tuple(dataclasses.replace(f, length=3) if f.sf_name == "LastName" else f for f in CONTACT.fields)
    monkeypatch.setitem(registry.REGISTRY, "Contact", dataclasses.replace(CONTACT, fields=fields))
    run_id = "manual__rejected_while_downloading"
    extracted = run_extract(extract_operator("bulk"), task_context(run_id, "extract"))
    typed = extracted["typed"]
    assert typed["rejects"] > 0 and typed["rows"] + typed["rejects"] == extracted["records"]
    with pytest.raises(TooManyRejects, match=r"Contact: \d+ of \d+ rows rejected .*last_name: value is \d+ char"):
        transform(extracted, run_id)
    assert table_snapshot(strict.warehouse) == []

    monkeypatch.setenv("SALESFORCE_ELT_REJECT_THRESHOLD", "1")
    transformed = transform(extracted, run_id, try_number=2)
    assert (transformed["typed_uri"], transformed["typed_files"]) == (typed["uri"], extracted["files"])
    assert (transformed["rows"], transformed["rejects"]) == (typed["rows"], typed["rejects"])
    assert "typed" not in transformed


def test_a_registry_change_after_the_extract_makes_the_transform_convert_again(strict, monkeypatch):
    """Parts converted under the old registry entry are not passed on once it changed (say, after a
    fix and a cleared transform task): the transform converts the raw parts with the new one."""
    run_id = "manual__registry_changed"
    extracted = run_extract(extract_operator("bulk"), task_context(run_id, "extract"))
    assert extracted["typed"]["rejects"] == 0
    fields = tuple(dataclasses.replace(f, length=3) if f.sf_name == "LastName" else f for f in CONTACT.fields)
    monkeypatch.setitem(registry.REGISTRY, "Contact", dataclasses.replace(CONTACT, fields=fields))
    with pytest.raises(TooManyRejects, match=r"last_name: value is \d+ char"):
        transform(extracted, run_id)


def test_a_page_that_fails_to_convert_during_the_download_leaves_every_part_to_the_transform(
    strict, monkeypatch, caplog, capfd
):
    logs = captured_logs(caplog, capfd, logging.WARNING)
    original = PartTransformer.add

    def refused(self, name):
        raise OSError(f"staging refused {name}")

    monkeypatch.setattr(PartTransformer, "add", refused)
    run_id = "manual__converting_failed"
    extracted = run_extract(extract_operator("bulk"), task_context(run_id, "extract"))
    assert "typed" not in extracted
    assert "Contact: converting while downloading failed (staging refused part-00000.csv)" in logs()
    monkeypatch.setattr(PartTransformer, "add", original)
    transformed = transform(extracted, run_id)
    assert "/transform/try-1/typed" in transformed["typed_uri"]
    load_task(transformed, run_id)
    assert_table_equals_emulator(strict.warehouse, strict.org)
