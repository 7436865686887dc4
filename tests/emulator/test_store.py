"""The emulator's on-disk org: seeding, describe metadata, feeds, change simulation, schema drift."""

from __future__ import annotations

import csv
import io
import sqlite3
import threading
from datetime import UTC, datetime, timedelta

import pytest

from salesforce_emulator import seed as sd
from salesforce_emulator.errors import SalesforceError
from salesforce_emulator.ids import is_valid_id
from salesforce_emulator.store import Org, generate

CONTACTS = 300


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("store_base")
    Org.open(d, contacts=CONTACTS, seed=11).close()
    return d


@pytest.fixture(scope="module")
def org(base_dir) -> Org:
    """Read-only org shared by the tests that do not mutate."""
    return Org.open(base_dir, contacts=CONTACTS, seed=11)


@pytest.fixture
def fresh(tmp_path, base_dir) -> Org:
    """A private copy of the org for tests that mutate it."""
    src = sqlite3.connect(str(base_dir / "org.sqlite"))
    dst = sqlite3.connect(str(tmp_path / "org.sqlite"))
    src.backup(dst)
    src.close()
    dst.close()
    return Org.attach(tmp_path)


def q(org: Org, soql: str, *, all_rows: bool = False) -> list[dict]:
    return list(org.query(soql, include_deleted=all_rows, api="rest").records())


def db(org: Org, statement: str, *params) -> list[tuple]:
    return org._conn().execute(statement, params).fetchall()


# --- describe -------------------------------------------------------------------------------------

def test_describe_global(org):
    g = org.describe_global()
    assert g["encoding"] == "UTF-8" and g["maxBatchSize"] == 200
    by_name = {o["name"]: o for o in g["sobjects"]}
    assert {"Account", "Contact", "User", "Lead", "Task", "Event", "TaskWhoRelation"} <= set(by_name)
    assert {n: by_name[n]["keyPrefix"] for n in ("Account", "Contact", "User", "Lead", "Task", "Event")} == {
        "Account": "001", "Contact": "003", "User": "005", "Lead": "00Q", "Task": "00T", "Event": "00U"}
    assert by_name["TaskWhoRelation"]["keyPrefix"] == "0RT" and not by_name["TaskWhoRelation"]["replicateable"]
    for key in ("label", "custom", "queryable", "replicateable", "retrieveable", "createable", "updateable",
                "deletable", "urls"):
        assert key in by_name["Contact"]
    assert by_name["Contact"]["urls"]["describe"] == "/services/data/v59.0/sobjects/Contact/describe"


FIELD_KEYS = {"name", "label", "type", "soapType", "length", "byteLength", "precision", "scale", "digits", "nillable",
              "custom", "calculated", "calculatedFormula", "externalId", "unique", "filterable", "sortable",
              "groupable", "referenceTo", "relationshipName", "polymorphicForeignKey", "compoundFieldName",
              "picklistValues", "restrictedPicklist", "defaultValue", "createable", "updateable",
              "deprecatedAndHidden", "inlineHelpText"}


def test_describe_contact_fields(org):
    d = org.describe("contact")
    assert d["name"] == "Contact" and d["keyPrefix"] == "003"
    for key in ("fields", "childRelationships", "recordTypeInfos", "urls", "queryable", "replicateable"):
        assert key in d
    fields = {f["name"]: f for f in d["fields"]}
    for f in fields.values():
        assert FIELD_KEYS <= set(f), f["name"]
    assert fields["Id"]["type"] == "id" and fields["Id"]["soapType"] == "tns:ID" and not fields["Id"]["nillable"]
    assert fields["NPI__c"]["custom"] and fields["NPI__c"]["type"] == "string" and fields["NPI__c"]["length"] == 20
    assert fields["NPI__c"]["byteLength"] == 60
    spec = fields["Specialty__c"]
    assert spec["type"] == "picklist" and {"active", "defaultValue", "label", "value", "validFor"} == set(
        spec["picklistValues"][0])
    assert fields["Is_Physician__c"]["type"] == "boolean" and fields["Is_Physician__c"]["soapType"] == "xsd:boolean"
    formula = fields["Full_Name_Formula__c"]
    assert formula["calculated"] and formula["calculatedFormula"] and not formula["createable"]
    addr = fields["MailingAddress"]
    assert addr["type"] == "address" and addr["soapType"] == "urn:address" and not addr["filterable"]
    for comp in ("MailingStreet", "MailingCity", "MailingState", "MailingPostalCode", "MailingCountry",
                 "MailingLatitude", "MailingLongitude", "MailingGeocodeAccuracy"):
        assert fields[comp]["compoundFieldName"] == "MailingAddress", comp
    assert fields["MailingStreet"]["type"] == "textarea"
    lat = fields["MailingLatitude"]
    assert (lat["type"], lat["precision"], lat["scale"]) == ("double", 18, 15)
    geo = fields["MailingGeocodeAccuracy"]
    assert geo["type"] == "picklist" and geo["restrictedPicklist"]
    assert fields["OtherAddress"]["type"] == "address" and fields["OtherCity"]["compoundFieldName"] == "OtherAddress"
    acc = fields["AccountId"]
    assert acc["type"] == "reference" and acc["referenceTo"] == ["Account"] and acc["relationshipName"] == "Account"
    assert fields["Languages__c"]["type"] == "multipicklist"
    for sysf in ("IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"):
        assert sysf in fields
    assert fields["SystemModstamp"]["type"] == "datetime" and fields["SystemModstamp"]["soapType"] == "xsd:dateTime"
    assert any(c["childSObject"] == "Task" and c["field"] == "WhoId" for c in d["childRelationships"])


def test_describe_activity_user_and_relation(org):
    task = {f["name"]: f for f in org.describe("Task")["fields"]}
    who = task["WhoId"]
    assert who["polymorphicForeignKey"] and who["referenceTo"] == ["Contact", "Lead"] and who["relationshipName"] == "Who"
    assert "Account" in task["WhatId"]["referenceTo"] and task["WhatId"]["polymorphicForeignKey"]
    assert [p["value"] for p in task["TaskSubtype"]["picklistValues"]] == ["Task", "Email", "Call", "ListEmail",
                                                                           "Cadence"]
    assert task["ActivityDate"]["type"] == "date" and "IsArchived" in task
    event = {f["name"] for f in org.describe("Event")["fields"]}
    assert {"StartDateTime", "EndDateTime", "ActivityDateTime", "DurationInMinutes", "IsAllDayEvent", "ShowAs",
            "EventSubtype", "IsArchived"} <= event
    user = {f["name"]: f for f in org.describe("User")["fields"]}
    assert "IsDeleted" not in user and user["Address"]["type"] == "address"
    assert user["Latitude"]["compoundFieldName"] == "Address" and "IsActive" in user
    twr = {f["name"]: f for f in org.describe("TaskWhoRelation")["fields"]}
    assert {"Id", "TaskId", "RelationId", "Type", "AccountId", "IsDeleted", "SystemModstamp"} <= set(twr)
    assert twr["RelationId"]["relationshipName"] == "Relation"
    with pytest.raises(SalesforceError) as info:
        org.describe("Opportunity")
    assert info.value.status == 404 and info.value.error_code == "NOT_FOUND"


# --- seeding ----------------------------------------------------------------------------------------

def test_seed_shapes(org):
    counts = {c["name"]: c["count"] for c in org.record_counts(["User", "Account", "Contact", "Lead", "Task",
                                                                 "Event", "TaskWhoRelation", "Nope"])}
    assert "Nope" not in counts
    assert counts["User"] == 50 and 20 <= counts["Account"] <= 30 and 10 <= counts["Lead"] <= 15
    assert 280 <= counts["Contact"] < CONTACTS
    assert db(org, "SELECT COUNT(*) FROM User WHERE IsActive = 0")[0][0] > 0
    # ~20% of contacts have activities; most have none; a few have many.
    per_contact = dict(db(org, "SELECT WhoId, COUNT(*) FROM (SELECT WhoId FROM Task UNION ALL SELECT WhoId FROM "
                               "Event) WHERE WhoId LIKE '003%' GROUP BY WhoId"))
    assert 0.1 * CONTACTS <= len(per_contact) <= 0.3 * CONTACTS
    assert db(org, "SELECT COUNT(*) FROM Task WHERE WhoId LIKE '00Q%'")[0][0] > 0
    assert db(org, "SELECT COUNT(*) FROM Task WHERE IsArchived = 1")[0][0] > 0
    assert db(org, "SELECT COUNT(*) FROM Contact WHERE IsDeleted = 1")[0][0] > 0
    multi = db(org, "SELECT TaskId, COUNT(*) FROM TaskWhoRelation GROUP BY TaskId HAVING COUNT(*) > 1")
    assert multi
    # every task with a WhoId has its relation row
    missing = db(org, "SELECT COUNT(*) FROM Task t WHERE t.WhoId IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                      "TaskWhoRelation r WHERE r.TaskId = t.Id AND r.RelationId = t.WhoId)")
    assert missing == [(0,)]
    assert db(org, "SELECT COUNT(*) FROM TaskWhoRelation r JOIN Task t ON t.Id = r.TaskId "
                   "WHERE r.IsDeleted != t.IsDeleted") == [(0,)]


def test_seed_ids_and_timestamps(org):
    now = sd.fmt_ts(sd.now_ts())
    for obj in ("User", "Account", "Contact", "Lead", "Task", "Event", "TaskWhoRelation"):
        prefix = org.schema().objects[obj].key_prefix
        bad = [i for (i,) in db(org, f'SELECT Id FROM "{obj}"') if not (is_valid_id(i) and i.startswith(prefix))]
        assert not bad, obj
        wrong = db(org, f'SELECT COUNT(*) FROM "{obj}" WHERE NOT (CreatedDate <= LastModifiedDate AND '
                        "LastModifiedDate <= SystemModstamp AND SystemModstamp < ?)", now)
        assert wrong == [(0,)], obj
    oldest = db(org, "SELECT MIN(CreatedDate) FROM Contact")[0][0]
    assert oldest < sd.fmt_ts(sd.now_ts() - 600 * sd.DAY)


def test_seed_tricky_text_and_nulls(org):
    text = " ".join(v for (v,) in db(org, "SELECT Description FROM Task WHERE Description IS NOT NULL"))
    names = " ".join(v for (v,) in db(org, "SELECT LastName || ' ' || COALESCE(FirstName, '') FROM Contact"))
    streets = " ".join(v for (v,) in db(org, "SELECT MailingStreet FROM Contact WHERE MailingStreet IS NOT NULL"))
    for needle in (",", '"', "\n"):
        assert needle in text
    assert "\n" in streets
    assert any(c in names for c in "éüö") and any("\u4e00" <= c <= "\u9fff" for c in names)
    assert any(ord(c) > 0xFFFF for c in text + names)      # emoji
    assert db(org, "SELECT COUNT(*) FROM Contact WHERE Email IS NULL")[0][0] > 0
    assert db(org, "SELECT COUNT(*) FROM Contact WHERE Email = '' OR Title = '' OR Phone = ''") == [(0,)]


def test_determinism_and_cache(tmp_path):
    anchor = sd.now_ts() // sd.DAY * sd.DAY
    a = generate(tmp_path / "a.sqlite", 120, 5, anchor=anchor)
    b = generate(tmp_path / "b.sqlite", 120, 5, anchor=anchor, parallel=True)
    generate(tmp_path / "c.sqlite", 120, 6, anchor=anchor)
    assert a == b
    dump = {}
    for name in ("a", "b", "c"):
        conn = sqlite3.connect(str(tmp_path / f"{name}.sqlite"))
        dump[name] = [conn.execute(f'SELECT * FROM "{t}" ORDER BY Id').fetchall()
                      for t in ("User", "Account", "Contact", "Lead", "Task", "Event", "TaskWhoRelation")]
        dump[name].append(conn.execute("SELECT * FROM _hard_deleted ORDER BY 1, 2").fetchall())
        conn.close()
    assert dump["a"] == dump["b"] and dump["a"] != dump["c"]
    # Org.open reuses a matching file and regenerates on a different (contacts, seed).
    d = tmp_path / "org"
    first = Org.open(d, contacts=50, seed=1)
    stamp = first.meta["generated_at"]
    first.close()
    assert Org.open(d, contacts=50, seed=1).meta["generated_at"] == stamp
    assert Org.open(d, contacts=60, seed=1).meta["contacts"] == "60"


# --- feeds ------------------------------------------------------------------------------------------

def test_updated_and_deleted_feeds_validation(org):
    now = datetime.now(UTC)
    with pytest.raises(SalesforceError) as info:
        org.deleted("Contact", now - timedelta(days=16), now)
    assert info.value.error_code == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceError) as info:
        org.updated("Contact", now - timedelta(days=31), now)
    assert info.value.error_code == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceError) as info:
        org.updated("Contact", now, now - timedelta(hours=1))
    assert info.value.error_code == "INVALID_REPLICATION_DATE"
    for feed in (org.updated, org.deleted):
        with pytest.raises(SalesforceError) as info:
            feed("TaskWhoRelation", now - timedelta(days=1), now)
        assert info.value.status == 400
    seeded = org.deleted("Contact", now - timedelta(days=15) + timedelta(minutes=2), now)
    assert seeded["deletedRecords"] and set(seeded) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
    assert all(r["id"].startswith("003") and r["deletedDate"].endswith("+0000") for r in seeded["deletedRecords"])
    upd = org.updated("Contact", now - timedelta(days=29), now)
    assert upd["ids"] and upd["latestDateCovered"] <= sd.fmt_ts(int(now.timestamp()))


def test_feed_id_limit(org, monkeypatch):
    import salesforce_emulator.store as store

    monkeypatch.setattr(store, "FEED_ID_LIMIT", 3)
    now = datetime.now(UTC)
    with pytest.raises(SalesforceError) as info:
        org.updated("Contact", now - timedelta(days=29), now)
    assert info.value.error_code == "EXCEEDED_ID_LIMIT"


# --- change simulation -----------------------------------------------------------------------------

def _later() -> datetime:
    return datetime.now(UTC) + timedelta(minutes=2)


@pytest.fixture(autouse=True)
def feeds_see_the_current_minute(monkeypatch):
    """The feeds cover whole minutes up to "now"; let them see changes made this minute."""
    monkeypatch.setattr(Org, "_now", staticmethod(_later))


def test_mutate_contacts(fresh):
    before = datetime.now(UTC) - timedelta(minutes=1)
    live_before = {r["Id"] for r in q(fresh, "SELECT Id FROM Contact")}
    res = fresh.mutate("Contact", update=10, create=5, delete=4, hard_delete=3, seed=1)
    assert [len(res[k]) for k in ("updated", "created", "deleted", "hard_deleted")] == [10, 5, 4, 3]
    live = {r["Id"] for r in q(fresh, "SELECT Id FROM Contact")}
    assert live == (live_before | set(res["created"])) - set(res["deleted"]) - set(res["hard_deleted"])
    everything = {r["Id"]: r for r in q(fresh, "SELECT Id, IsDeleted, SystemModstamp FROM Contact", all_rows=True)}
    assert all(everything[i]["IsDeleted"] for i in res["deleted"])
    assert not set(res["hard_deleted"]) & set(everything)
    stamp = sd.fmt_ts(int(before.timestamp()))
    recent = {r["Id"] for r in q(fresh, f"SELECT Id FROM Contact WHERE SystemModstamp >= "
                                        f"{stamp[:19]}Z")}
    # a row may be updated and then deleted by the same mutation
    changed = (set(res["updated"]) | set(res["created"])) - set(res["deleted"]) - set(res["hard_deleted"])
    assert changed and changed <= recent
    feed = fresh.updated("Contact", before, _later())
    assert changed <= set(feed["ids"])
    assert not set(res["deleted"]) & set(feed["ids"])
    gone = {r["id"] for r in fresh.deleted("Contact", before, _later())["deletedRecords"]}
    assert set(res["deleted"]) | set(res["hard_deleted"]) <= gone
    new = q(fresh, f"SELECT Id, Name, CreatedDate, Is_Physician__c FROM Contact WHERE Id = '{res['created'][0]}'")[0]
    assert new["CreatedDate"] >= stamp


def test_mutate_late_share_and_monotonic_stamps(fresh):
    res = fresh.mutate("Account", update=20, late_share=1.0, seed=2)
    now = sd.now_ts()
    stamps = dict(db(fresh, f"SELECT Id, SystemModstamp FROM Account WHERE Id IN ({','.join('?' * 20)})",
                     *res["updated"]))
    assert all(sd.fmt_ts(now - 6 * 60) <= s <= sd.fmt_ts(now - 100) for s in stamps.values())
    bad = db(fresh, "SELECT COUNT(*) FROM Account WHERE NOT (CreatedDate <= LastModifiedDate AND "
                    "LastModifiedDate <= SystemModstamp)")
    assert bad == [(0,)]


def test_mutate_tasks_and_relations(fresh):
    res = fresh.mutate("Task", create=6, delete=3, hard_delete=2, seed=3)
    created = set(res["created"])
    rel = db(fresh, f"SELECT TaskId, Type FROM TaskWhoRelation WHERE TaskId IN ({','.join('?' * len(created))})",
             *created)
    assert {t for t, _ in rel} == {t for (t,) in db(fresh, "SELECT Id FROM Task WHERE WhoId IS NOT NULL AND Id IN "
                                                           f"({','.join('?' * len(created))})", *created)}
    # relations follow their task: soft-deleted with it, gone with a hard delete
    deleted = res["deleted"]
    flags = db(fresh, f"SELECT IsDeleted FROM TaskWhoRelation WHERE TaskId IN ({','.join('?' * len(deleted))})",
               *deleted)
    assert all(f == 1 for (f,) in flags)
    hard = res["hard_deleted"]
    assert db(fresh, f"SELECT COUNT(*) FROM TaskWhoRelation WHERE TaskId IN ({','.join('?' * len(hard))})",
              *hard) == [(0,)]
    visible = {r["TaskId"] for r in q(fresh, "SELECT TaskId FROM TaskWhoRelation")}
    assert not visible & set(deleted)


@pytest.mark.parametrize(("view", "base", "parent", "ref"), [
    ("TaskWhoRelation", "TaskRelation", "Task", "TaskId"),
    ("EventWhoRelation", "EventRelation", "Event", "EventId"),
])
def test_removed_relations_are_in_the_relation_feed_and_leave_the_parent_alone(fresh, view, base, parent, ref):
    before = datetime.now(UTC) - timedelta(minutes=1)
    rel = dict(db(fresh, f"SELECT Id, {ref} FROM {view} WHERE IsDeleted = 0"))  # noqa: S608
    res = fresh.mutate(view, delete=2, create=2, seed=4)
    assert len(res["deleted"]) == 2 and len(res["created"]) == 2
    remaining = {i for (i,) in db(fresh, f"SELECT Id FROM {view}")}  # noqa: S608
    assert not set(res["deleted"]) & remaining and set(res["created"]) <= remaining
    feed = {r["id"] for r in fresh.deleted(base, before, _later())["deletedRecords"]}
    assert set(res["deleted"]) - set(res["demoted"]) <= feed and not set(res["demoted"]) & feed
    with pytest.raises(SalesforceError):
        fresh.deleted(view, before, _later())  # the view itself has no feed
    # Not documented whether Salesforce bumps the parent: by default the emulator does not (a
    # promoted WhoId aside: the picked relations are never the WhoId while others exist).
    touched = {rel[i] for i in res["deleted"]} | {
        r for (r,) in db(fresh, f"SELECT {ref} FROM {view} WHERE Id IN (?, ?)", *res["created"])}  # noqa: S608
    assert not touched & set(fresh.updated(parent, before, _later())["ids"])
    rel = dict(db(fresh, f"SELECT Id, {ref} FROM {view} WHERE IsDeleted = 0"))  # noqa: S608
    bumped = fresh.mutate(view, delete=1, create=1, seed=5, bump_parent=True)
    now_changed = set(fresh.updated(parent, before, _later())["ids"])
    assert {rel[i] for i in bumped["deleted"]} <= now_changed
    with pytest.raises(SalesforceError):
        fresh.mutate(view, update=1)


def test_an_event_contact_who_is_also_an_invitee_keeps_its_event_relation(fresh):
    before = datetime.now(UTC) - timedelta(minutes=1)
    invitees = {i for (i,) in db(fresh, "SELECT Id FROM EventRelation WHERE IsInvitee = 1 AND IsParent = 1")}
    assert invitees  # seeded: about a third of the event contacts are invitees too
    demoted: list[str] = []
    for seed in range(20):  # removals pick at random; stop once one was an invitee
        res = fresh.mutate("EventWhoRelation", delete=3, seed=seed)
        demoted += res["demoted"]
        if demoted:
            break
    assert demoted and set(demoted) <= invitees
    # Gone from EventWhoRelation, still an EventRelation (IsParent false), updated, not in /deleted.
    assert not {r["Id"] for r in q(fresh, "SELECT Id FROM EventWhoRelation")} & set(demoted)
    kept = {r["Id"]: r for r in q(fresh, "SELECT Id, IsParent, IsInvitee FROM EventRelation")}
    assert all(not kept[i]["IsParent"] and kept[i]["IsInvitee"] for i in demoted)
    assert set(demoted) <= set(fresh.updated("EventRelation", before, _later())["ids"])
    assert not set(demoted) & {r["id"] for r in fresh.deleted("EventRelation", before, _later())["deletedRecords"]}


def test_mutate_users_deactivate_never_delete(fresh):
    res = fresh.mutate("User", update=2, delete=3, seed=5)
    assert len(res["deactivated"]) == 3 and res["deleted"] == [] and res["hard_deleted"] == []
    flags = db(fresh, f"SELECT IsActive FROM User WHERE Id IN ({','.join('?' * 3)})", *res["deactivated"])
    assert flags == [(0,)] * 3
    with pytest.raises(SalesforceError):
        fresh.mutate("User", hard_delete=1)


def test_mutate_is_visible_to_other_threads_and_cursor_snapshot(fresh):
    cur = fresh.query("SELECT Id FROM Contact", include_deleted=False, api="rest")
    total = cur.total_size
    out: dict = {}

    def writer():
        out["res"] = fresh.mutate("Contact", create=3, seed=6)

    t = threading.Thread(target=writer)
    t.start()
    t.join()
    assert sum(1 for _ in cur.records()) == total          # the cursor reads its own snapshot
    assert fresh.query("SELECT Id FROM Contact", include_deleted=False, api="rest").total_size == total + 3


# --- schema drift -----------------------------------------------------------------------------------

def test_add_and_remove_field(fresh, tmp_path):
    fresh.add_field("Contact", "Preferred_Channel__c", "picklist", label="Preferred Channel",
                    picklistValues=["Email", "Phone"])
    fields = {f["name"]: f for f in fresh.describe("Contact")["fields"]}
    assert fields["Preferred_Channel__c"]["type"] == "picklist" and fields["Preferred_Channel__c"]["custom"]
    assert all(r["Preferred_Channel__c"] is None for r in q(fresh, "SELECT Id, Preferred_Channel__c FROM Contact"))
    res = fresh.mutate("Contact", update=30, create=10, seed=7)
    values = {r["Id"]: r["Preferred_Channel__c"] for r in q(fresh, "SELECT Id, preferred_channel__c FROM Contact")}
    assert any(values[i] in ("Email", "Phone") for i in res["created"] + res["updated"])
    # drift survives a restart (and another process's Org sees it)
    again = Org.attach(tmp_path)
    assert "Preferred_Channel__c" in {f["name"] for f in again.describe("Contact")["fields"]}
    fresh.remove_field("Contact", "Title")
    assert "Title" not in {f["name"] for f in again.describe("Contact")["fields"]}
    with pytest.raises(SalesforceError) as info:
        again.query("SELECT Id, Title FROM Contact", include_deleted=False, api="rest")
    assert info.value.error_code == "INVALID_FIELD" and "No such column 'Title'" in info.value.message
    with pytest.raises(SalesforceError):
        fresh.add_field("Contact", "Email", "email")
    fresh.add_field("Account", "Tier__c", "boolean")
    assert all(r["Tier__c"] is False for r in q(fresh, "SELECT Tier__c FROM Account"))


def test_csv_of_drift_and_booleans(fresh):
    fresh.add_field("Contact", "Notes__c", "textarea", length=255)
    fresh.mutate("Contact", update=40, seed=8)
    buf = io.StringIO()
    cur = fresh.query("SELECT Id, Notes__c, DoNotCall FROM Contact", include_deleted=False, api="bulk")
    n = cur.write_csv(buf)
    parsed = list(csv.DictReader(io.StringIO(buf.getvalue(), newline="")))
    assert len(parsed) == n and {r["DoNotCall"] for r in parsed} <= {"true", "false"}
    assert any(r["Notes__c"] for r in parsed) and any(not r["Notes__c"] for r in parsed)
