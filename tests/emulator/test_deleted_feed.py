"""The /deleted feed's limits as Salesforce documents them: a purged delete log and the one-minute rule.

SOAP API Developer Guide, getDeleted(): startDate must precede endDate by more than one minute
(seconds ignored), and a start the purged delete log no longer covers gets INVALID_REPLICATION_DATE.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesforce_emulator.errors import SalesforceError
from salesforce_emulator.server import EmulatorServer
from salesforce_emulator.store import Org
from tests.support.salesforce import rest_session

CONTACTS = 150


def _minute(d: datetime) -> datetime:
    return d.replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("deleted_feed_base")
    Org.open(d, contacts=CONTACTS, seed=5).close()
    return d


@pytest.fixture
def org(tmp_path, base_dir) -> Org:
    """A private copy of the org (purges and deletes change it)."""
    src, dst = sqlite3.connect(str(base_dir / "org.sqlite")), sqlite3.connect(str(tmp_path / "org.sqlite"))
    src.backup(dst)
    src.close()
    dst.close()
    return Org.attach(tmp_path)


def test_a_purge_moves_earliest_date_available_and_refuses_earlier_starts(org, monkeypatch):
    changes = org.mutate("Contact", delete=3, hard_delete=3, seed=3)
    now = datetime.now(UTC)
    later = now + timedelta(minutes=5)
    monkeypatch.setattr(Org, "_now", staticmethod(lambda: later))  # the feed covers the changes' minute
    before = org.deleted("Contact", now - timedelta(hours=1), later)
    assert set(changes["hard_deleted"]) | set(changes["deleted"]) <= {r["id"] for r in before["deletedRecords"]}
    assert before["earliestDateAvailable"] == f"{_minute(later - timedelta(days=15)):%Y-%m-%dT%H:%M}:00.000+0000"

    cutoff = now + timedelta(seconds=1)
    earliest = _minute(cutoff) + timedelta(minutes=1)  # the first whole minute at or after the cutoff
    assert org.purge_delete_log("Contact", cutoff) == {"Contact": f"{earliest:%Y-%m-%dT%H:%M}:00.000+0000"}

    with pytest.raises(SalesforceError) as refused:
        org.deleted("Contact", now - timedelta(hours=1), later)
    assert (refused.value.status, refused.value.error_code) == (400, "INVALID_REPLICATION_DATE")
    assert f"{earliest:%Y-%m-%dT%H:%M}" in refused.value.message
    with pytest.raises(SalesforceError):
        org.deleted("Contact", earliest - timedelta(seconds=1), later)
    after = org.deleted("Contact", earliest, later)
    assert after["deletedRecords"] == []
    assert after["earliestDateAvailable"] == f"{earliest:%Y-%m-%dT%H:%M}:00.000+0000"
    # Only the log forgets: the soft-deleted records are still in the recycle bin (queryAll).
    everything = {r["Id"]: r["IsDeleted"] for r in org.query("SELECT Id, IsDeleted FROM Contact",
                                                             include_deleted=True).records()}
    assert all(everything[i] for i in changes["deleted"])
    assert not set(changes["hard_deleted"]) & set(everything)
    # Other objects keep their log; a later purge never moves the start back.
    assert org.deleted("Task", now - timedelta(hours=1), later)["earliestDateAvailable"] < after["earliestDateAvailable"]
    assert org.purge_delete_log("Contact", now - timedelta(days=1))["Contact"] == after["earliestDateAvailable"]


def test_deletes_after_the_purge_are_listed(org, monkeypatch):
    now = datetime.now(UTC)
    org.purge_delete_log(None, now - timedelta(hours=2))
    changes = org.mutate("Contact", hard_delete=2, seed=4)
    monkeypatch.setattr(Org, "_now", staticmethod(lambda: now + timedelta(minutes=3)))
    feed = org.deleted("Contact", now - timedelta(hours=1), now + timedelta(minutes=3))
    assert set(changes["hard_deleted"]) <= {r["id"] for r in feed["deletedRecords"]}
    assert org.deleted("Event", now - timedelta(hours=1), now)["earliestDateAvailable"] == (
        f"{_minute(now - timedelta(hours=2)) + timedelta(minutes=1):%Y-%m-%dT%H:%M}:00.000+0000"
    )


@pytest.mark.parametrize(
    ("start", "end", "accepted"),
    [
        ("12:00:00", "12:01:00", False),  # exactly one minute
        ("12:00:30", "12:01:59", False),  # 89 s, but one minute once the seconds are dropped
        ("12:00:59", "12:02:00", True),  # 61 s, two whole minutes apart
        ("12:00:00", "12:02:00", True),
        ("12:00:00", "12:00:00", False),
        ("12:02:00", "12:00:00", False),
    ],
)
def test_start_must_precede_end_by_more_than_one_minute(org, start, end, accepted):
    day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    args = ("Contact", datetime.fromisoformat(f"{day}T{start}+00:00"), datetime.fromisoformat(f"{day}T{end}+00:00"))
    if accepted:
        assert "deletedRecords" in org.deleted(*args)
    else:
        with pytest.raises(SalesforceError) as refused:
            org.deleted(*args)
        assert refused.value.error_code == "INVALID_REPLICATION_DATE"


def test_purge_over_https_and_the_error_shape(tmp_path):
    with EmulatorServer(tmp_path / "org", contacts=CONTACTS, seed=5, bulk_delay=0.1) as server, rest_session(
        server
    ) as sf:
        now = datetime.now(UTC)
        params = {
            "start": (now - timedelta(hours=1)).isoformat(timespec="seconds"),
            "end": now.isoformat(timespec="seconds"),
        }
        assert "deletedRecords" in sf.restful("sobjects/Contact/deleted/", params=params)
        admin = f"{server.base_url}/__emulator__/purge-delete-log"
        answer = sf.session.post(admin, json={"object": "Contact", "before": now.isoformat()}).json()
        assert answer["Contact"] > params["start"][:16]
        with pytest.raises(SalesforceMalformedRequest) as refused:
            sf.restful("sobjects/Contact/deleted/", params=params)
        body = refused.value.content
        assert isinstance(body, list) and body[0]["errorCode"] == "INVALID_REPLICATION_DATE"
        assert answer["Contact"] in body[0]["message"]
        # Unknown objects and bad dates are the harness's own 4xx, not a silent no-op.
        assert sf.session.post(admin, json={"object": "Nope__c"}).status_code == 404
        assert sf.session.post(admin, json={"before": "yesterday"}).status_code == 400


def test_mutate_cli_purges_after_its_changes(org):
    done = subprocess.run(
        [sys.executable, "-m", "salesforce_emulator", "mutate", "--data-dir", str(org.path.parent),
         "--object", "Contact", "--hard-delete", "2", "--purge-delete-log"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = json.loads(done.stdout)
    assert out["hard_deleted"] == 2 and out["earliestDateAvailable"] > f"{datetime.now(UTC):%Y-%m-%dT%H:%M}"
    with pytest.raises(SalesforceError) as refused:
        org.deleted("Contact", datetime.now(UTC) - timedelta(minutes=10), datetime.now(UTC))
    assert refused.value.error_code == "INVALID_REPLICATION_DATE"
