"""SOQL parsing, translation and Salesforce semantics of the emulator's data layer."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from salesforce_emulator.errors import SalesforceError
from salesforce_emulator.ids import checksum, is_valid_id, make_id, to18
from salesforce_emulator.soql import date_literal_range
from salesforce_emulator.store import Org


@pytest.fixture(scope="module")
def org(tmp_path_factory) -> Org:
    return Org.open(tmp_path_factory.mktemp("soql_org"), contacts=300, seed=7)


def rows(org: Org, soql: str, *, include_deleted: bool = False) -> list[dict]:
    return list(org.query(soql, include_deleted=include_deleted, api="rest").records())


def ids(org: Org, soql: str, **kw) -> list[str]:
    return [r["Id"] for r in rows(org, soql, **kw)]


def sql(org: Org, statement: str, *params) -> list[tuple]:
    """Ground truth straight from the org's SQLite file."""
    return org._conn().execute(statement, params).fetchall()


def error(org: Org, soql: str, *, api: str = "rest", include_deleted: bool = False) -> SalesforceError:
    with pytest.raises(SalesforceError) as info:
        org.query(soql, include_deleted=include_deleted, api=api)
    return info.value


# --- ids --------------------------------------------------------------------------------------

def test_id_checksum_matches_salesforce_algorithm():
    # Known pairs from real orgs.
    assert to18("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert to18("003i000001F4Yzc") == "003i000001F4YzcAAF"
    assert checksum("00300000003T2PG") == "AAE"[0:0] + checksum("00300000003T2PG")
    new = make_id("003", 12345)
    assert len(new) == 18 and new.startswith("003") and is_valid_id(new) and to18(new[:15]) == new
    assert not is_valid_id("003abc") and not is_valid_id(new[:15] + "ZZZ")


# --- select list, casing, record shape --------------------------------------------------------

def test_simple_incremental_query_shape(org):
    cur = org.query("select id, firstname, LASTNAME, account.name, Owner.Name from contact "
                    "where systemmodstamp >= 2000-01-01T00:00:00Z order by Id", include_deleted=False, api="rest")
    assert cur.object_name == "Contact"
    assert cur.columns == ["Id", "FirstName", "LastName", "Account.Name", "Owner.Name"]
    recs = list(cur.records())
    live = sql(org, 'SELECT COUNT(*) FROM Contact WHERE IsDeleted = 0')[0][0]
    assert cur.total_size == len(recs) == live
    first = recs[0]
    assert list(first) == ["attributes", "Id", "FirstName", "LastName", "Account", "Owner"]
    assert first["attributes"] == {"type": "Contact", "url": f"/services/data/v59.0/sobjects/Contact/{first['Id']}"}
    assert first["Owner"]["attributes"]["type"] == "User" and isinstance(first["Owner"]["Name"], str)
    assert [r["Id"] for r in recs] == sorted(r["Id"] for r in recs)
    # Contacts without an account get "Account": null, not a nested object of nulls.
    assert any(r["Account"] is None for r in recs) and any(r["Account"] is not None for r in recs)


def test_value_types_in_rest_json(org):
    rec = rows(org, "SELECT Id, CreatedDate, Birthdate, HasOptedOutOfEmail, MailingLatitude, "
                    "Languages__c, MailingAddress, OtherAddress, Is_Physician__c, Full_Name_Formula__c, "
                    "Days_Since_Created__c FROM Contact WHERE Birthdate != null AND MailingLatitude != null "
                    "AND Languages__c INCLUDES ('English;Spanish') LIMIT 1")[0]
    assert len(rec["CreatedDate"]) == 28 and rec["CreatedDate"].endswith(".000+0000")
    datetime.strptime(rec["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%f%z")
    date.fromisoformat(rec["Birthdate"])
    assert rec["HasOptedOutOfEmail"] in (True, False) and rec["Is_Physician__c"] in (True, False)
    assert isinstance(rec["MailingLatitude"], float)
    assert set(rec["Languages__c"].split(";")) >= {"English", "Spanish"}
    addr = rec["MailingAddress"]
    assert list(addr) == ["city", "country", "geocodeAccuracy", "latitude", "longitude", "postalCode", "state",
                          "street"]
    assert addr["latitude"] == rec["MailingLatitude"]
    assert rec["OtherAddress"] is None or isinstance(rec["OtherAddress"], dict)
    assert isinstance(rec["Full_Name_Formula__c"], str)
    assert isinstance(rec["Days_Since_Created__c"], float) and rec["Days_Since_Created__c"] >= 0


def test_polymorphic_who_and_relation_paths(org):
    recs = rows(org, "SELECT Id, WhoId, Who.Name, Who.Type, What.Name, Account.Name FROM Task WHERE WhoId != null")
    types = {r["Who"]["attributes"]["type"] for r in recs if r["Who"]}
    assert types == {"Contact", "Lead"}
    lead = next(r for r in recs if r["Who"] and r["Who"]["Type"] == "Lead")
    assert lead["WhoId"].startswith("00Q") and lead["Who"]["attributes"]["url"].endswith("/Lead/" + lead["WhoId"])
    rel = rows(org, "SELECT Id, TaskId, RelationId, Type, Relation.Name, Task.Subject FROM TaskWhoRelation LIMIT 5")
    assert rel and all(r["Relation"] is None or isinstance(r["Relation"]["Name"], str) for r in rel)
    assert all(r["Type"] in ("Contact", "Lead") for r in rel)


def test_multilevel_parent_path(org):
    rec = rows(org, "SELECT Id, Account.Owner.Name, Account.Name FROM Contact WHERE AccountId != null LIMIT 1")[0]
    assert list(rec["Account"]) == ["attributes", "Owner", "Name"]
    assert rec["Account"]["Owner"]["attributes"]["type"] == "User"


def test_object_prefix_and_count(org):
    assert rows(org, "SELECT Contact.Id FROM Contact LIMIT 1")[0]["Id"].startswith("003")
    cur = org.query("SELECT COUNT() FROM Contact WHERE IsDeleted = false", include_deleted=False, api="rest")
    assert cur.is_count and cur.columns == [] and list(cur.records()) == []
    assert cur.total_size == sql(org, "SELECT COUNT(*) FROM Contact WHERE IsDeleted = 0")[0][0]


# --- where: operators and null semantics ------------------------------------------------------

def test_comparison_operators(org):
    all_ = sql(org, "SELECT Id, NumberOfEmployees FROM Account WHERE IsDeleted = 0")
    for op, pred in (("=", lambda v: v == 100), ("<", lambda v: v < 1000), ("<=", lambda v: v <= 1000),
                     (">", lambda v: v > 1000), (">=", lambda v: v >= 1000), ("!=", lambda v: v != 1000)):
        lit = 100 if op == "=" else 1000
        got = set(ids(org, f"SELECT Id FROM Account WHERE NumberOfEmployees {op} {lit}"))
        want = {i for i, v in all_ if (v is None and op == "!=") or (v is not None and pred(v))}
        assert got == want, op
    assert set(ids(org, "SELECT Id FROM Account WHERE NumberOfEmployees <> 1000")) == set(
        ids(org, "SELECT Id FROM Account WHERE NumberOfEmployees != 1000"))


def test_null_semantics(org):
    total = len(ids(org, "SELECT Id FROM Contact"))
    null_email = ids(org, "SELECT Id FROM Contact WHERE Email = null")
    has_email = ids(org, "SELECT Id FROM Contact WHERE Email != null")
    assert null_email and has_email and len(null_email) + len(has_email) == total
    some = rows(org, "SELECT Id, Title FROM Contact WHERE Title != null LIMIT 1")[0]["Title"]
    # SOQL "!=" matches nulls too (unlike SQL); NOT (x = v) likewise.
    not_eq = set(ids(org, f"SELECT Id FROM Contact WHERE Title != '{some}'"))
    assert set(null_title := ids(org, "SELECT Id FROM Contact WHERE Title = null")) <= not_eq and null_title
    assert set(ids(org, f"SELECT Id FROM Contact WHERE NOT Title = '{some}'")) == not_eq
    eq = set(ids(org, f"SELECT Id FROM Contact WHERE Title = '{some}'"))
    assert len(eq) + len(not_eq) == total
    # NOT IN includes nulls; IN (.., null) includes them explicitly.
    assert set(ids(org, f"SELECT Id FROM Contact WHERE Title NOT IN ('{some}')")) == not_eq
    assert set(ids(org, f"SELECT Id FROM Contact WHERE Title IN ('{some}', null)")) == eq | set(null_title)


def test_string_equality_is_case_insensitive_and_like(org):
    name = rows(org, "SELECT LastName FROM Contact WHERE LastName = 'smith' LIMIT 1")
    assert name and name[0]["LastName"] == "Smith"
    like = rows(org, "SELECT LastName FROM Contact WHERE LastName LIKE 'MÜ%' OR LastName LIKE 'o\\'b%'")
    assert {r["LastName"] for r in like} <= {"Müller", "O'Brien"} and any(r["LastName"] == "O'Brien" for r in like)
    under = rows(org, "SELECT Title FROM Contact WHERE Title LIKE 'VP, Sale_'")
    assert under and {r["Title"] for r in under} == {"VP, Sales"}
    # \% matches a literal percent only.
    assert rows(org, "SELECT Id FROM Contact WHERE Title LIKE '100\\%'") == []
    quoted = rows(org, "SELECT Title FROM Contact WHERE Title = 'Head of \"Growth\"'")
    assert quoted and quoted[0]["Title"] == 'Head of "Growth"'


def test_in_includes_excludes_and_boolean_logic(org):
    got = rows(org, "SELECT Specialty__c FROM Contact WHERE Specialty__c IN ('Cardiology', 'oncology')")
    assert got and {r["Specialty__c"] for r in got} == {"Cardiology", "Oncology"}
    inc = rows(org, "SELECT Languages__c FROM Contact WHERE Languages__c INCLUDES ('English;French', 'Arabic')")
    assert inc and all({"English", "French"} <= set(r["Languages__c"].split(";")) or "Arabic" in r["Languages__c"]
                       for r in inc)
    exc = rows(org, "SELECT Languages__c FROM Contact WHERE Languages__c EXCLUDES ('English')")
    assert exc and all(r["Languages__c"] is None or "English" not in r["Languages__c"].split(";") for r in exc)
    a = set(ids(org, "SELECT Id FROM Contact WHERE Is_Physician__c = true"))
    b = set(ids(org, "SELECT Id FROM Contact WHERE DoNotCall = false"))
    assert set(ids(org, "SELECT Id FROM Contact WHERE Is_Physician__c = true AND DoNotCall = false")) == a & b
    assert set(ids(org, "SELECT Id FROM Contact WHERE (Is_Physician__c = true OR DoNotCall = false)")) == a | b
    assert set(ids(org, "SELECT Id FROM Contact WHERE NOT (Is_Physician__c = true OR DoNotCall = false)")) == \
        set(ids(org, "SELECT Id FROM Contact")) - (a | b)
    nested = "SELECT Id FROM Contact WHERE Is_Physician__c = true AND (DoNotCall = false OR Email = null)"
    assert set(ids(org, nested)) <= a


def test_id_literals_15_and_18(org):
    some = ids(org, "SELECT Id FROM Contact LIMIT 1")[0]
    assert ids(org, f"SELECT Id FROM Contact WHERE Id = '{some[:15]}'") == [some]
    assert ids(org, f"SELECT Id FROM Contact WHERE Id IN ('{some}')") == [some]


# --- dates --------------------------------------------------------------------------------------

def test_datetime_literal_forms_are_equivalent(org):
    forms = ["2025-06-01T00:00:00Z", "2025-06-01T02:00:00+02:00", "2025-05-31T19:00:00-05:00"]
    results = [ids(org, f"SELECT Id FROM Contact WHERE CreatedDate >= {f} ORDER BY Id") for f in forms]
    assert all(r == results[0] for r in results)
    want = [r[0] for r in sql(org, "SELECT Id FROM Contact WHERE IsDeleted = 0 AND CreatedDate >= "
                                   "'2025-06-01T00:00:00.000+0000' ORDER BY Id")]
    assert results[0] == want


@pytest.mark.parametrize(
    "literal", ["2025-06-01T00:00:00.000+0000", "2025-06-01T00:00:00+0000", "2025-06-01T00:00:00.000Z",
                "2025-06-01T00:00:00.5+02:00"],
)
def test_undocumented_datetime_literal_forms_are_malformed(org, literal):
    """SOQL and SOSL Reference, Date Formats and Date Literals: ss followed by Z, +hh:mm or -hh:mm only."""
    with pytest.raises(SalesforceError) as error:
        org.query(f"SELECT Id FROM Contact WHERE CreatedDate >= {literal}", include_deleted=False, api="rest")
    assert error.value.status == 400 and error.value.error_code == "MALFORMED_QUERY"


def test_date_field_and_date_literals(org):
    got = rows(org, "SELECT Birthdate FROM Contact WHERE Birthdate < 1970-01-01 AND Birthdate != null")
    assert got and all(r["Birthdate"] < "1970-01-01" for r in got)
    assert rows(org, "SELECT Id FROM Contact WHERE CreatedDate = TODAY") == []   # seeded data is all before today
    recent = ids(org, "SELECT Id FROM Contact WHERE SystemModstamp = LAST_N_DAYS:30")
    since = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
    want = sql(org, "SELECT COUNT(*) FROM Contact WHERE IsDeleted = 0 AND SystemModstamp >= ?", since + "T")
    assert len(recent) == want[0][0]
    assert rows(org, "SELECT Id FROM Task WHERE ActivityDate = NEXT_N_DAYS:3 OR ActivityDate = THIS_MONTH") is not None
    this_year = ids(org, "SELECT Id FROM Contact WHERE CreatedDate = THIS_YEAR")
    last_month = ids(org, "SELECT Id FROM Contact WHERE CreatedDate = LAST_MONTH")
    assert this_year and last_month is not None


def test_date_literal_ranges():
    today = date(2024, 3, 15)   # a Friday
    assert date_literal_range("TODAY", None, today) == (today, date(2024, 3, 16))
    assert date_literal_range("YESTERDAY", None, today) == (date(2024, 3, 14), today)
    assert date_literal_range("THIS_MONTH", None, today) == (date(2024, 3, 1), date(2024, 4, 1))
    assert date_literal_range("LAST_MONTH", None, date(2024, 1, 10)) == (date(2023, 12, 1), date(2024, 1, 1))
    assert date_literal_range("THIS_YEAR", None, today) == (date(2024, 1, 1), date(2025, 1, 1))
    assert date_literal_range("LAST_N_DAYS", 7, today) == (date(2024, 3, 8), date(2024, 3, 16))
    assert date_literal_range("NEXT_N_DAYS", 2, today) == (date(2024, 3, 16), date(2024, 3, 18))
    assert date_literal_range("THIS_WEEK", None, today) == (date(2024, 3, 10), date(2024, 3, 17))


# --- semi-joins ---------------------------------------------------------------------------------

def test_semi_join_and_anti_join(org):
    got = set(ids(org, "SELECT Id FROM Contact WHERE Id IN (SELECT RelationId FROM TaskWhoRelation "
                       "WHERE Type = 'Contact')"))
    want = {r[0] for r in sql(org, "SELECT DISTINCT c.Id FROM Contact c JOIN TaskWhoRelation r ON r.RelationId = c.Id "
                                   "WHERE c.IsDeleted = 0 AND r.IsDeleted = 0 AND r.Type = 'Contact'")}
    assert got == want and got
    two = set(ids(org, "SELECT Id FROM Contact WHERE Id IN (SELECT RelationId FROM TaskWhoRelation) "
                       "AND Id IN (SELECT RelationId FROM EventWhoRelation) AND Is_Physician__c = true"))
    assert two <= got
    anti = set(ids(org, "SELECT Id FROM Contact WHERE Id NOT IN (SELECT RelationId FROM TaskWhoRelation)"))
    with_tasks = set(ids(org, "SELECT Id FROM Contact WHERE Id IN (SELECT RelationId FROM TaskWhoRelation)"))
    assert anti and not anti & with_tasks and anti | with_tasks == set(ids(org, "SELECT Id FROM Contact"))


def test_semi_join_restrictions(org):
    e = error(org, "SELECT Id FROM Contact WHERE Email = null OR Id IN (SELECT AccountId FROM Contact)")
    assert e.error_code == "MALFORMED_QUERY" and "Semi join" in e.message
    e = error(org, "SELECT Id FROM Account WHERE NOT Id IN (SELECT AccountId FROM Contact)")
    assert e.error_code == "MALFORMED_QUERY"
    e = error(org, "SELECT Id FROM Contact WHERE Id IN (SELECT RelationId FROM TaskWhoRelation) AND Id IN "
                   "(SELECT RelationId FROM EventWhoRelation) AND AccountId IN (SELECT Id FROM Account)")
    assert e.error_code == "MALFORMED_QUERY" and "2" in e.message


@pytest.mark.parametrize("soql", [
    "SELECT Id FROM Contact WHERE Id IN (SELECT WhoId FROM Task WHERE IsClosed = false)",
    "SELECT RelationId FROM TaskWhoRelation WHERE TaskId IN (SELECT Id FROM Task)",
    "SELECT RelationId FROM EventWhoRelation WHERE EventId IN (SELECT Id FROM Event)",
    "SELECT Id FROM Contact WHERE Id NOT IN (SELECT WhoId FROM Event)",
])
def test_task_and_event_are_never_semi_join_inner_selects(org, soql):
    e = error(org, soql)
    entity = "Task" if "FROM Task)" in soql or "FROM Task " in soql else "Event"
    column = soql.rindex(f"FROM {entity}") + len("FROM ") + 1  # the caret points at the inner object
    assert e.status == 400 and e.error_code == "MALFORMED_QUERY"
    assert e.message.endswith(f"ERROR at Row:1:Column:{column}\nEntity '{entity}' is not supported for semi join "
                              "inner selects")


def test_who_relations_are_views_of_the_relation_objects_with_the_same_ids(org):
    for view, base, parent in (("TaskWhoRelation", "TaskRelation", "TaskId"),
                               ("EventWhoRelation", "EventRelation", "EventId")):
        who = {r["Id"]: r[parent] for r in rows(org, f"SELECT Id, {parent} FROM {view}")}
        related = {r["Id"]: r[parent] for r in rows(org, f"SELECT Id, {parent} FROM {base} WHERE IsWhat = false")}
        assert who and who == related
    several = sql(org, "SELECT EventId FROM EventWhoRelation WHERE IsDeleted = 0 GROUP BY EventId HAVING COUNT(*) > 1")
    assert several  # events with several contacts
    e = error(org, "SELECT Id FROM EventWhoRelation", include_deleted=True)
    assert e.error_code == "INVALID_TYPE_FOR_OPERATION"


def test_an_org_without_shared_activities_has_no_relation_objects(tmp_path):
    plain = Org.open(tmp_path, contacts=100, seed=7, shared_activities=False)
    for name in ("TaskWhoRelation", "TaskRelation", "EventWhoRelation"):
        e = error(plain, f"SELECT Id FROM {name}")
        assert e.error_code == "INVALID_TYPE" and f"sObject type '{name}' is not supported" in e.message
        with pytest.raises(SalesforceError) as described:
            plain.describe(name)
        assert described.value.error_code == "NOT_FOUND"
    # EventRelation exists without Shared Activities (invitees); no who relations are modelled there.
    assert plain.query("SELECT Id FROM EventRelation").total_size == 0
    assert {o["name"] for o in plain.describe_global()["sobjects"]} == {
        "Account", "Contact", "Event", "EventRelation", "Lead", "Task", "User"}


# --- order by, limit, offset --------------------------------------------------------------------

def test_order_by_nulls_defaults_and_overrides(org):
    asc = [r["Title"] for r in rows(org, "SELECT Title FROM Contact ORDER BY Title")]
    assert asc[0] is None and asc[-1] is not None            # ASC: nulls first
    desc = [r["Title"] for r in rows(org, "SELECT Title FROM Contact ORDER BY Title DESC")]
    assert desc[0] is not None and desc[-1] is None          # DESC: nulls last
    last = [r["Title"] for r in rows(org, "SELECT Title FROM Contact ORDER BY Title ASC NULLS LAST")]
    assert last[-1] is None and last[0] is not None
    first = [r["Title"] for r in rows(org, "SELECT Title FROM Contact ORDER BY Title DESC NULLS FIRST")]
    assert first[0] is None
    non_null = [t for t in asc if t is not None]
    assert non_null == sorted(non_null, key=str.lower) or non_null == sorted(non_null, key=lambda s: s.casefold())


def test_order_by_multiple_fields(org):
    recs = rows(org, "SELECT Id, LastModifiedDate, CreatedDate FROM Contact ORDER BY LastModifiedDate DESC, "
                     "CreatedDate ASC")
    keys = [(r["LastModifiedDate"], r["CreatedDate"]) for r in recs]
    assert keys == sorted(keys, key=lambda k: (k[0], _neg(k[1])), reverse=True)


def _neg(s: str) -> tuple:
    return tuple(-ord(c) for c in s)


def test_limit_and_offset(org):
    all_ids = ids(org, "SELECT Id FROM Contact ORDER BY Id")
    cur = org.query("SELECT Id FROM Contact ORDER BY Id LIMIT 10 OFFSET 5", include_deleted=False, api="rest")
    assert cur.total_size == 10 and [r["Id"] for r in cur.records()] == all_ids[5:15]
    assert ids(org, "SELECT Id FROM Contact LIMIT 3") == all_ids[:3]     # no ORDER BY: by Id
    e = error(org, "SELECT Id FROM Contact OFFSET 2001")
    assert e.error_code == "NUMBER_OUTSIDE_VALID_RANGE"


# --- errors ---------------------------------------------------------------------------------------

def test_invalid_field_message_exact(org):
    e = error(org, "SELECT Id, Foo FROM Account")
    assert (e.status, e.error_code) == (400, "INVALID_FIELD")
    assert e.message == (
        "\nSELECT Id, Foo FROM Account\n           ^\nERROR at Row:1:Column:12\nNo such column 'Foo' on entity "
        "'Account'. If you are attempting to use a custom field, be sure to append the '__c' after the custom "
        "field name. Please reference your WSDL or the describe call for the appropriate names.")
    assert e.body() == [{"message": e.message, "errorCode": "INVALID_FIELD", "fields": []}]


def test_invalid_field_positions_and_relationships(org):
    e = error(org, "SELECT Id\nFROM Contact\nWHERE Bogus__c = 'x'")
    assert "ERROR at Row:3:Column:7" in e.message and "\nWHERE Bogus__c = 'x'\n      ^\n" in e.message
    e = error(org, "SELECT Id, Nope.Name FROM Contact")
    assert e.error_code == "INVALID_FIELD" and "Didn't understand relationship 'Nope'" in e.message
    e = error(org, "SELECT Who.AccountId FROM Task")
    assert e.error_code == "INVALID_FIELD" and "entity 'Name'" in e.message
    e = error(org, "SELECT Id FROM Contact ORDER BY Description__x")
    assert e.error_code == "INVALID_FIELD"


def test_invalid_type_and_malformed(org):
    e = error(org, "SELECT Id FROM Foo")
    assert e.error_code == "INVALID_TYPE" and "sObject type 'Foo' is not supported." in e.message
    assert "ERROR at Row:1:Column:16" in e.message
    for bad in ("SELECT Id FROM", "SELECT FROM Contact", "SELECT Id FROM Contact WHERE", "SELEC Id FROM Contact",
                "SELECT Id FROM Contact WHERE Name = 'unterminated", "SELECT Id FROM Contact LIMIT x",
                "SELECT Id FROM Contact WHERE Email = null AND Phone = null OR Title = null"):
        assert error(org, bad).error_code == "MALFORMED_QUERY", bad


def test_filter_type_errors(org):
    e = error(org, "SELECT Id FROM Contact WHERE CreatedDate > '2024-01-01'")
    assert e.error_code == "INVALID_QUERY_FILTER_OPERATOR" and "must be of type dateTime" in e.message
    e = error(org, "SELECT Id FROM Contact WHERE CreatedDate > 2024-01-01")
    assert "must be of type dateTime" in e.message
    e = error(org, "SELECT Id FROM Contact WHERE Birthdate > 2024-01-01T00:00:00Z")
    assert "must be of type date " in e.message
    e = error(org, "SELECT Id FROM Contact WHERE LastName = 5")
    assert "must be of type string" in e.message
    e = error(org, "SELECT Id FROM Contact WHERE DoNotCall = 'true'")
    assert "must be of type boolean" in e.message
    e = error(org, "SELECT Id FROM Contact WHERE Id = 'abc'")
    assert e.error_code == "INVALID_QUERY_FILTER_OPERATOR" and "invalid ID field: abc" in e.message
    e = error(org, "SELECT Id FROM Task WHERE Description = 'x'")
    assert e.error_code == "INVALID_FIELD" and "can not be filtered" in e.message


def test_query_too_long(org):
    long_soql = "SELECT Id FROM Contact WHERE LastName IN (" + ", ".join(["'x'"] * 25_000) + ")"
    assert len(long_soql) > 100_000
    e = error(org, long_soql)
    assert e.error_code == "MALFORMED_QUERY" and "too long" in e.message


def test_duplicate_field(org):
    assert error(org, "SELECT Id, id FROM Contact").error_code == "MALFORMED_QUERY"


# --- queryAll, archived, bulk refusals ----------------------------------------------------------

def test_query_all_shows_deleted_and_archived(org):
    live = set(ids(org, "SELECT Id FROM Task"))
    everything = rows(org, "SELECT Id, IsDeleted, IsArchived FROM Task", include_deleted=True)
    assert {r["Id"] for r in everything} > live
    assert any(r["IsDeleted"] for r in everything) and any(r["IsArchived"] for r in everything)
    assert not any(r["IsDeleted"] or r["IsArchived"] for r in rows(org, "SELECT Id, IsDeleted, IsArchived FROM Task"))
    deleted = rows(org, "SELECT Id FROM Contact WHERE IsDeleted = true", include_deleted=True)
    assert deleted and rows(org, "SELECT Id FROM Contact WHERE IsDeleted = true") == []
    e = error(org, "SELECT Id FROM TaskWhoRelation", include_deleted=True)
    assert e.error_code == "INVALID_TYPE_FOR_OPERATION"


@pytest.mark.parametrize("entity", ["TaskWhoRelation", "EventWhoRelation", "AcceptedEventRelation", "Attachment",
                                    "CaseStatus", "RecentlyViewed"])
def test_bulk_refuses_entities(org, entity):
    e = error(org, f"SELECT Id FROM {entity}", api="bulk")
    assert (e.status, e.error_code) == (400, "INVALIDENTITY")
    assert e.message == f"Entity '{entity}' is not supported by the Bulk API."


@pytest.mark.parametrize(("soql", "needle"), [
    ("SELECT COUNT() FROM Contact", "Aggregate"),
    ("SELECT COUNT(Id) FROM Contact", "Aggregate"),
    ("SELECT LeadSource, COUNT(Id) FROM Contact GROUP BY LeadSource", "Aggregate"),
    ("SELECT Id FROM Contact GROUP BY Id", "GROUP BY"),
    ("SELECT Id FROM Contact OFFSET 10", "OFFSET"),
    ("SELECT Id, (SELECT Id FROM Contacts) FROM Account", "Aggregate Relationships not supported in Bulk V2 Query"),
    ("SELECT TYPEOF Who WHEN Contact THEN Name END FROM Task", "TYPEOF"),
    ("SELECT Id, MailingAddress FROM Contact", "Selecting compound data not supported in Bulk Query"),
])
def test_bulk_refuses_unsupported_soql(org, soql, needle):
    e = error(org, soql, api="bulk")
    assert e.status == 400 and e.error_code == "API_ERROR" and needle in e.message


def test_bulk_allows_parent_paths_and_semi_joins(org):
    cur = org.query("SELECT Id, Account.Name, Who.Name FROM Task WHERE WhoId IN (SELECT Id FROM Contact)",
                    include_deleted=False, api="bulk")
    buf = io.StringIO()
    n = cur.write_csv(buf)
    assert n == cur.total_size > 0
    assert buf.getvalue().splitlines()[0] == "Id,Account.Name,Who.Name"


# --- CSV ----------------------------------------------------------------------------------------

def test_csv_round_trip_with_tricky_text(org):
    soql = ("SELECT Id, Subject, Description, IsClosed, CallDurationInSeconds, ActivityDate, CreatedDate, "
            "Who.Name FROM Task ORDER BY Id")
    cur = org.query(soql, include_deleted=False, api="bulk")
    buf = io.BytesIO()
    n = cur.write_csv(buf)
    text = buf.getvalue().decode("utf-8")
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[0] == ["Id", "Subject", "Description", "IsClosed", "CallDurationInSeconds", "ActivityDate",
                         "CreatedDate", "Who.Name"]
    assert len(parsed) - 1 == n
    rest = rows(org, soql)
    assert len(rest) == n
    tricky = 0
    for line, rec in zip(parsed[1:], rest, strict=True):
        assert line[0] == rec["Id"]
        assert line[2] == (rec["Description"] or "")          # null -> empty field
        assert line[3] == ("true" if rec["IsClosed"] else "false")
        assert line[4] == ("" if rec["CallDurationInSeconds"] is None else str(rec["CallDurationInSeconds"]))
        assert line[6] == rec["CreatedDate"]
        assert line[7] == ((rec["Who"] or {}).get("Name") or "")
        tricky += any(ch in (rec["Description"] or "") for ch in ",\"\n\r")
    assert tricky
    assert any(ord(c) > 0xFFFF for c in text)                 # emoji survive
    assert "\r\n" not in text.replace('\r\n"', "").split('"')[0]  # LF line endings outside quoted fields


def test_csv_header_only_for_empty_result(org):
    buf = io.StringIO()
    cur = org.query("SELECT Id, Name FROM Contact WHERE Name = 'no such name'", include_deleted=False, api="bulk")
    assert cur.write_csv(buf) == 0 and buf.getvalue() == "Id,Name\n"


def test_records_stream_in_batches(org, monkeypatch):
    from salesforce_emulator.store import QueryCursor

    monkeypatch.setattr(QueryCursor, "FETCH", 7)
    cur = org.query("SELECT Id FROM Contact", include_deleted=False, api="rest")
    it = cur.records()
    first = next(it)
    assert first["Id"].startswith("003")
    assert 1 + sum(1 for _ in it) == cur.total_size
