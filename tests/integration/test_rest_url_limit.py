"""The engine's longest REST statements fit Salesforce's 16,384 bytes of URI plus headers.

REST sends SOQL in the URL; Salesforce refuses a request whose URI plus headers pass 16,384 bytes
(431, or 414 when the URI alone is too long), and the emulator does the same. Each kind of statement
the engine sends by REST with an id list — the extract's id chunks, the relations extract's parent
chunks, targeted discovery's relation lookups — is built here by the engine's own code with 18-
character ids up to its REST_SOQL_MAX_CHARS, sent by the engine's hook (its URL encoding) to the
emulator over HTTPS, and answered.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from airflow.sdk import ObjectStoragePath

from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook
from salesforce_elt.airflow.operators.extract import REST_SOQL_MAX_CHARS
from salesforce_elt.engine import targeted
from salesforce_elt.engine.registry import CONTACT, get_object, relation_specs
from salesforce_elt.engine.soql import build_spec_select, chunk_ids_for_soql
from salesforce_emulator.ids import make_ids
from salesforce_emulator.server import REQUEST_HEAD_LIMIT

# Room left for what this test's request lacks and a real one may carry: a longer access token
# (Salesforce's are about 112 characters), a proxy's or a newer client's extra headers.
HEADROOM = 512


def _ids(org, soql: str) -> list[str]:
    """The org's ids, then made-up ids of the same prefix (valid 18-character ids no row holds) to
    fill a whole statement where the org has fewer rows."""
    ids = [r["Id"] for r in org.org.query(soql, include_deleted=False, api="rest").records()]
    assert ids and all(len(i) == 18 for i in ids)
    return ids + make_ids(ids[0][:3], 9_000_000, 600)


def _full_chunk(statements) -> str:
    first = next(iter(statements))
    # Full: one more id (",'<18>'") would pass the limit.
    assert REST_SOQL_MAX_CHARS - 21 < len(first) <= REST_SOQL_MAX_CHARS
    return first


def _head_bytes(hook: SalesforceApiHook, soql: str) -> int:
    """Request line plus headers of the hook's GET for ``soql``, encoded as the hook encodes it."""
    token = hook._token or hook.authenticate()
    request = requests.Request(
        "GET",
        f"{token.instance_url}{hook.data_path}/query",
        params={"q": soql},
        headers={"Authorization": f"Bearer {token.access_token}", "Sforce-Query-Options": "batchSize=2000"},
    )
    prepared = hook.http.prepare_request(request)
    headers = {**prepared.headers, "Host": token.instance_url.split("//", 1)[1]}
    return len(f"GET {prepared.path_url} HTTP/1.1") + 2 + sum(len(k) + len(v) + 4 for k, v in headers.items()) + 2


@pytest.fixture
def longest_statements(salesforce_conn_env):
    org = salesforce_conn_env
    contact_ids = _ids(org, "SELECT Id FROM Contact")
    task_ids = _ids(org, "SELECT Id FROM Task")
    statements = {
        # operators/extract.py _statements: targeted ids, REST
        "extract id chunk": _full_chunk(
            chunk_ids_for_soql(
                f"{build_spec_select(CONTACT)} WHERE ", contact_ids, REST_SOQL_MAX_CHARS, prefix=CONTACT.key_prefix
            )
        ),
    }
    for spec in relation_specs():
        field, parent = spec.relation_parent
        parents = task_ids if parent == "Task" else _ids(org, f"SELECT Id FROM {parent}")
        # operators/relations.py: the relation rows of the parents changed in the window
        statements[f"{spec.name} parent chunk"] = _full_chunk(
            chunk_ids_for_soql(
                f"{build_spec_select(spec)} WHERE ",
                parents,
                REST_SOQL_MAX_CHARS,
                field=field,
                prefix=get_object(parent).key_prefix,
            )
        )
    for lookup in targeted.relation_lookups(None, datetime.now(UTC)):
        parents = task_ids if lookup.parent == "Task" else _ids(org, f"SELECT Id FROM {lookup.parent}")
        # operators/discover.py: targeted discovery's relation lookups
        statements[f"{lookup.relation} lookup"] = _full_chunk(lookup.statements(parents, REST_SOQL_MAX_CHARS))
    return statements


def test_the_longest_rest_statements_stay_within_16384_bytes(longest_statements, salesforce_conn_env, tmp_path):
    org = salesforce_conn_env
    hook = SalesforceApiHook()
    assert len(longest_statements) >= 3
    for name, soql in longest_statements.items():
        head = _head_bytes(hook, soql)
        assert head <= REQUEST_HEAD_LIMIT - HEADROOM, f"{name}: {head} bytes of URI plus headers"
        fields = soql[len("SELECT ") : soql.index(" FROM ")].split(", ")
        dest = ObjectStoragePath(f"file://{tmp_path}/{name.replace(' ', '_')}")
        _files, records = hook.query_to_csv(soql, fields, dest)
        assert records > 0, name
    refused = [e for e in org.audit() if e["status"] in (414, 431)]
    assert not refused


def test_a_statement_past_the_limit_is_refused_with_a_clear_error(salesforce_conn_env, tmp_path):
    """The guard above is real: twice REST_SOQL_MAX_CHARS of ids passes the limit and fails clearly."""
    org = salesforce_conn_env
    soql = next(
        chunk_ids_for_soql("SELECT Id FROM Contact WHERE ", _ids(org, "SELECT Id FROM Contact"), 2 * REST_SOQL_MAX_CHARS)
    )
    hook = SalesforceApiHook()
    assert _head_bytes(hook, soql) > REQUEST_HEAD_LIMIT
    with pytest.raises(Exception, match=r"HTTP_41[34]|Request Header Fields Too Large|URI Too Long"):
        hook.query_to_csv(soql, ["Id"], ObjectStoragePath(f"file://{tmp_path}/over"))
