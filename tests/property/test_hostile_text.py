"""Property: any text Salesforce can hold arrives in PostgreSQL byte for byte (NUL characters removed).

Hypothesis writes batches of arbitrary Unicode text — quotes, commas, CR, LF, CRLF, tabs,
backslashes, ``\\N``, ``\\.``, astral-plane characters, NUL, values at their field's maximum length —
and latitudes into Contacts of an emulated org, through the org's own update API
(``Org.set_values``), in two wire formats: the realistic one (every Bulk field quoted, doubles in
Java's notation) and minimal quoting (only what RFC 4180 needs, Python's float text); REST pages
are short in both. Each batch then syncs through the Bulk 2.0 CSV path
or the REST JSON path (the real extract, transform and load operators, into the real Postgres),
and the table is compared with the source field by field twice: with the values written (NUL
removed; a value of nothing but NULs is NULL) and with an independent REST queryAll of the whole
org (tests.support.equality). ``sync_runs.records_cleaned`` must count exactly the records of the
run's window that held a NUL.

Many records per sync keep it to a minute or two: HYPOTHESIS_EXAMPLES (default 5) examples of two
syncs each, per wire format (set it higher to search longer).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesforce_elt.engine.registry import CONTACT
from salesforce_emulator.server import EmulatorServer
from salesforce_emulator.wire import WireFormat
from tests.reliability.helpers import run_pipeline
from tests.support import equality
from tests.support.airflow_env import connections_to
from tests.support.databases import fresh_database
from tests.support.salesforce import rest_session, wait_for_the_next_second

ORG_CONTACTS = 240
BATCH = 12  # records written before each sync
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "5"))
WIRES = {
    "realistic": WireFormat.realistic(max_page=8),  # REST pages of 1-8 records: several per sync
    "minimal_quoting": WireFormat(short_pages=True, max_page=8),
}

# Pieces the CSV writers, readers and COPY treat specially, mixed into arbitrary text.
SPECIAL = ['"', '""', ",", "\r", "\n", "\r\n", "\n\r", "\t", "\\", "\\N", "\\.", "\n\\.\n", "\x00", "NULL",
           ";", "{", "}", " ", "'", "\u2028", "\ufeff", "\U0001d11e", "\U0001f680", "é", "\x7f", "\x1b"]
# Every character UTF-8 can carry: all of Unicode but the surrogates (text that is not UTF-8 never
# leaves Salesforce).
CHARACTERS = st.characters(codec="utf-8")


def _field_lengths() -> dict[str, int]:
    """Contact text fields written here -> their length (the registry's; Salesforce refuses longer)."""
    plain = {f.sf_name: f.length for f in CONTACT.fields if f.sf_name in
             ("Title", "Department", "Phone", "MobilePhone", "Email", "NPI__c", "LeadSource", "Specialty__c",
              "Languages__c")}
    return {**plain, "MailingStreet": 255, "MailingCity": 40, "OtherStreet": 255, "OtherCountry": 80}


LENGTHS = _field_lengths()


def _text(length: int, *, at_maximum: bool = True) -> st.SearchStrategy[str]:
    mixed = st.lists(st.one_of(st.sampled_from(SPECIAL), st.text(CHARACTERS, max_size=6)), max_size=12)
    options = [mixed.map("".join).map(lambda text: text[:length])]
    if at_maximum:
        options += [
            st.text(CHARACTERS, min_size=length, max_size=length),  # the field's maximum
            # the maximum made of the awkward pieces (cut to length: pieces have several characters)
            st.lists(st.sampled_from(SPECIAL), min_size=length, max_size=length).map(lambda p: "".join(p)[:length]),
        ]
    return st.one_of(options)


LATITUDE = st.floats(min_value=-90, max_value=90, allow_nan=False)
RECORD = st.fixed_dictionaries(
    {}, optional={**{name: _text(length, at_maximum=name != "Languages__c") for name, length in LENGTHS.items()},
                  "MailingLatitude": LATITUDE}
)
BATCHES = st.lists(RECORD, min_size=1, max_size=BATCH)


# ---- where each field lands in the warehouse ------------------------------------------------------
def _locations() -> dict[str, tuple[str, str | None]]:
    """Salesforce field -> (column, JSON key inside a compound column or None)."""
    out: dict[str, tuple[str, str | None]] = {}
    for f in CONTACT.fields:
        for sf_name, key in f.components:
            out[sf_name] = (f.column, key)
        if not f.components:
            out[f.sf_name] = (f.column, None)
    return out


LOCATIONS = _locations()
MULTIPICKLISTS = {f.sf_name for f in CONTACT.fields if f.sf_type == "multipicklist"}


def _stored(name: str, value: Any) -> Any:
    """What the warehouse must hold for a value written to Salesforce."""
    if isinstance(value, str):
        value = value.replace("\x00", "") or None  # Salesforce also stores "" as null
        if value is not None and name in MULTIPICKLISTS:
            return value.split(";")
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    return isinstance(value, str) and "\x00" in value


# ---- the org, the warehouse, the connections -------------------------------------------------------
@pytest.fixture(scope="module", params=sorted(WIRES))
def org(request, tmp_path_factory):
    with EmulatorServer(tmp_path_factory.mktemp("hostile_org"), contacts=ORG_CONTACTS, seed=11,
                        bulk_delay=0.05, wire=WIRES[request.param]) as server:
        yield server


@pytest.fixture(scope="module")
def sync_env(airflow_db, org, warehouse_url, tmp_path_factory):
    with fresh_database(warehouse_url, "w_hostile") as url:
        staging = f"file://{tmp_path_factory.mktemp('hostile_staging')}"
        with connections_to(org, url, SALESFORCE_ELT_STAGING_URL=staging, SALESFORCE_ELT_REJECT_THRESHOLD="0"):
            ids = [r["Id"] for r in org.org.query(f"SELECT Id FROM Contact ORDER BY Id LIMIT {2 * BATCH}").records()]
            yield {"org": org, "warehouse": url, "ids": {"bulk": ids[:BATCH], "rest": ids[BATCH:]}, "runs": [0]}


def _cleaned_in_window(org: EmulatorServer, url: str) -> tuple[int, int]:
    """(records_cleaned of the last run, records of its window in the org that hold a NUL)."""
    with psycopg.connect(url) as conn:
        cleaned, start, end = conn.execute(
            "SELECT records_cleaned, window_start, window_end FROM salesforce.sync_runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
    where = "" if start is None else f" WHERE SystemModstamp >= {_soql(start)} AND SystemModstamp < {_soql(end)}"
    cursor = org.org.query(f"SELECT {', '.join(CONTACT.soql_fields)} FROM Contact{where}", include_deleted=True)
    return cleaned, sum(_has_nul(record) for record in cursor.records())


def _soql(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _sync_and_compare(env: dict, api: str, batch: list[dict[str, Any]]) -> None:
    org, url = env["org"], env["warehouse"]
    written = dict(zip(env["ids"][api], batch, strict=False))
    org.org.set_values("Contact", {record_id: values for record_id, values in written.items() if values})
    wait_for_the_next_second()  # a manual run's window ends at the second it starts in
    env["runs"][0] += 1
    result = run_pipeline(f"manual__hostile_{env['runs'][0]}_{api}", api=api)
    assert result["errors"] == 0  # nothing rejected: every value is valid

    rows = equality.warehouse_rows(url, CONTACT)
    for record_id, values in written.items():
        for name, value in values.items():
            column, key = LOCATIONS[name]
            got = rows[record_id][column]
            got = None if got is None else got.get(key) if key else got
            assert got == _stored(name, value), f"{api} {record_id} {name}: wrote {value!r}, table has {got!r}"
    with rest_session(org) as rest:
        equality.assert_table_equals(url, rest, CONTACT)
    cleaned, holding_nul = _cleaned_in_window(org, url)
    assert cleaned == holding_nul


@settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(bulk=BATCHES, rest=BATCHES)
def test_any_text_arrives_byte_for_byte_through_bulk_csv_and_rest_json(sync_env, bulk, rest):
    _sync_and_compare(sync_env, "bulk", bulk)
    _sync_and_compare(sync_env, "rest", rest)
