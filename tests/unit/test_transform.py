"""Raw Salesforce CSV -> typed CSV: quoting, formats, header checks, rejects, NUL characters."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest

from salesforce_elt.engine.csv_rows import CsvRowWriter
from salesforce_elt.engine.registry import CONTACT
from salesforce_elt.engine.transform import CLEANED_IDS, HeaderMismatch, TooManyRejects, transform_files

FIELDS = list(CONTACT.soql_fields)


def contact(i: int, **values: str) -> dict[str, str]:
    row = dict.fromkeys(FIELDS, "")
    row.update(
        Id=f"003{i:015d}",
        LastName=f"Name {i}",
        IsDeleted="false",
        SystemModstamp="2024-01-02T03:04:05.000Z",
        CreatedDate="2024-01-01T00:00:00.000Z",
    )
    row.update(values)
    return row


def write_raw(directory: Path, name: str, rows: list[dict[str, str]], header: list[str] = FIELDS,
              *, quote_all: bool = False) -> None:
    """Raw CSV as the extract stages it (or, with ``quote_all``, as Bulk 2.0 may send it: every field quoted)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / name, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL) if quote_all else CsvRowWriter(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(h, "") for h in header])


def read_typed(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def run(tmp_path: Path, rows, *, threshold: float = 0.5, files=("part-00000.csv",), header=FIELDS,
        quote_all: bool = False):
    for name in files:
        write_raw(tmp_path / "raw", name, rows, header, quote_all=quote_all)
    return transform_files(
        CONTACT, FIELDS, tmp_path / "raw", list(files), tmp_path / "typed", reject_threshold=threshold
    )


def test_tricky_csv_values_survive_quotes_newlines_and_unicode(tmp_path):
    title = 'VP, "Growth"\nline two — ünïcödé 🚀'
    result = run(
        tmp_path,
        [
            contact(1, Title=title, MailingStreet='1 "Main" St,\nApt 2', MailingCity="Zürich",
                    MailingLatitude="47.376886", MailingLongitude="8.541694"),
        ],
    )
    assert (result.rows, result.rejects) == (1, 0)
    (typed,) = read_typed(tmp_path / "typed" / "part-00000.csv")
    assert typed["title"] == title
    assert json.loads(typed["mailing_address"]) == {
        "street": '1 "Main" St,\nApt 2', "city": "Zürich", "state": None, "postalCode": None,
        "country": None, "latitude": 47.376886, "longitude": 8.541694, "geocodeAccuracy": None,
    }
    assert typed["other_address"] == ""  # all components empty -> NULL
    assert sorted(typed) == sorted(CONTACT.columns) and list(typed)[0] == "salesforce_id"
    assert list(typed) == result.columns  # the COPY column list the load task receives


def test_both_datetime_formats_and_booleans_convert(tmp_path):
    run(
        tmp_path,
        [
            contact(1, SystemModstamp="2024-01-02T03:04:05.000Z", DoNotCall="true"),
            contact(2, SystemModstamp="2024-01-02T03:04:05.000+0000", DoNotCall="false"),
        ],
    )
    first, second = read_typed(tmp_path / "typed" / "part-00000.csv")
    assert first["sf_system_modstamp"] == "2024-01-02T03:04:05.000Z"
    assert second["sf_system_modstamp"] == "2024-01-02T03:04:05.000+00:00"
    assert (first["do_not_call"], second["do_not_call"]) == ("true", "false")


def test_empty_values_are_unquoted_empty_fields_for_copy_null(tmp_path):
    run(tmp_path, [contact(1, Email="")])
    line = (tmp_path / "typed" / "part-00000.csv").read_text(encoding="utf-8").splitlines()[1]
    assert '""' not in line  # a quoted empty string would load as '' instead of NULL
    assert line.startswith('"003000000000000001",,')


def test_every_part_is_transformed_into_a_part_of_the_same_name(tmp_path):
    result = run(tmp_path, [contact(1), contact(2)], files=("part-00000.csv", "part-00001.csv"))
    assert result.typed_files == ["part-00000.csv", "part-00001.csv"]
    assert result.rows == 4


def test_header_mismatch_names_the_object_and_the_columns(tmp_path):
    header = [f for f in FIELDS if f != "Email"] + ["Fax"]
    with pytest.raises(HeaderMismatch, match=r"Contact: header of part-00000.csv .*missing \['Email'\], unexpected \['Fax'\]"):
        run(tmp_path, [contact(1)], header=header)


def test_header_in_another_order_is_refused(tmp_path):
    header = [FIELDS[1], FIELDS[0], *FIELDS[2:]]
    with pytest.raises(HeaderMismatch, match="out of order"):
        run(tmp_path, [contact(1)], header=header)


def test_extract_missing_a_registry_field_is_refused_before_reading(tmp_path):
    write_raw(tmp_path / "raw", "part-00000.csv", [contact(1)])
    with pytest.raises(HeaderMismatch, match=r"did not request \['NPI__c'\]"):
        transform_files(
            CONTACT, [f for f in FIELDS if f != "NPI__c"], tmp_path / "raw", ["part-00000.csv"],
            tmp_path / "typed", reject_threshold=1.0,
        )


def test_bad_rows_go_to_rejects_with_id_column_value_and_reason(tmp_path):
    rows = [contact(i) for i in range(1, 9)]
    rows.append(contact(9, NPI__c="x" * 25))
    rows.append(contact(10, Birthdate="1980-13-01"))
    result = run(tmp_path, rows, threshold=0.25)
    assert (result.rows, result.rejects) == (8, 2)
    rejects = read_typed(tmp_path / "typed" / "rejects.csv")
    assert rejects[0] == {
        "Id": "003000000000000009",
        "column": "npi",
        "value": "x" * 25,
        "reason": "value is 25 characters, longer than the column's 20",
    }
    assert (rejects[1]["column"], rejects[1]["reason"]) == ("birthdate", "not a date (YYYY-MM-DD): '1980-13-01'")
    typed_ids = [r["salesforce_id"] for r in read_typed(tmp_path / "typed" / "part-00000.csv")]
    assert "003000000000000009" not in typed_ids and len(typed_ids) == 8


def test_missing_required_modstamp_and_foreign_id_are_rejected(tmp_path):
    result = run(tmp_path, [contact(1, SystemModstamp=""), contact(2, Id="001000000000000002")], threshold=1.0)
    assert result.rejects == 2
    assert result.first_reasons == [
        "003000000000000001 sf_system_modstamp: required value is empty",
        "001000000000000002 salesforce_id: not a Contact id (key prefix 003): '001000000000000002'",
    ]


def test_rejects_above_the_threshold_fail_naming_object_and_reasons(tmp_path):
    rows = [contact(1), contact(2, DoNotCall="maybe")]
    with pytest.raises(TooManyRejects, match=r"Contact: 1 of 2 rows rejected \(50.00% > threshold 1.00%.*do_not_call: not a boolean"):
        run(tmp_path, rows, threshold=0.01)


def test_no_rejects_means_no_rejects_file(tmp_path):
    result = run(tmp_path, [contact(1)])
    assert result.rejects_file is None
    assert not (tmp_path / "typed" / "rejects.csv").exists()


def test_short_row_is_rejected_not_misaligned(tmp_path):
    write_raw(tmp_path / "raw", "part-00000.csv", [contact(1)])
    with open(tmp_path / "raw" / "part-00000.csv", "a", encoding="utf-8") as f:
        f.write("003000000000000002,001000000000000001\n")
    result = transform_files(
        CONTACT, FIELDS, tmp_path / "raw", ["part-00000.csv"], tmp_path / "typed", reject_threshold=1.0
    )
    assert (result.rows, result.rejects) == (1, 1)
    assert f"row has 2 fields, the header {len(FIELDS)}" in result.first_reasons[0]


def test_header_only_file_gives_an_empty_typed_part(tmp_path):
    result = run(tmp_path, [])
    assert result.rows == 0
    assert read_typed(tmp_path / "typed" / "part-00000.csv") == []


# ---- NUL characters, lone CRs, every field quoted, scientific notation -------------------------------
def test_nul_characters_are_removed_from_text_and_the_records_counted_and_named(tmp_path, caplog):
    rows = [
        contact(1, Title="Dr.\x00", MailingStreet="1 Main\x00 St", Languages__c="English;\x00French"),
        contact(2, Department="\x00\x00"),  # nothing but NULs: NULL
        contact(3, Title="clean"),
        contact(4, Phone="555\x00", Birthdate="1980-13-01"),  # rejected: not loaded, so not counted
        contact(5, DoNotCall="tr\x00ue"),  # not text: a NUL makes the value invalid, never silently altered
    ]
    with caplog.at_level(logging.WARNING, logger="salesforce_elt.engine.transform"):
        result = run(tmp_path, rows, threshold=1.0)
    assert (result.rows, result.rejects, result.cleaned) == (3, 2, 2)
    assert result.cleaned_ids == ["003000000000000001", "003000000000000002"]
    typed = {r["salesforce_id"]: r for r in read_typed(tmp_path / "typed" / "part-00000.csv")}
    assert typed["003000000000000001"]["title"] == "Dr."
    assert json.loads(typed["003000000000000001"]["mailing_address"])["street"] == "1 Main St"
    assert typed["003000000000000001"]["languages"] == '{"English","French"}'
    assert typed["003000000000000002"]["department"] == ""  # NULL for COPY
    assert "\x00" not in (tmp_path / "typed" / "part-00000.csv").read_text(encoding="utf-8")
    reasons = {r["Id"]: r["reason"] for r in read_typed(tmp_path / "typed" / "rejects.csv")}
    assert reasons["003000000000000005"] == "not a boolean (true/false): 'tr\\x00ue'"
    assert ("Contact: NUL characters removed from the text values of 2 record(s) (PostgreSQL text cannot hold "
            "them; the rest of each value is loaded), ids: 003000000000000001, 003000000000000002") in caplog.text


def test_the_ids_named_are_bounded_the_count_is_not(tmp_path):
    result = run(tmp_path, [contact(i, Title=f"t\x00{i}") for i in range(1, CLEANED_IDS + 6)])
    assert result.cleaned == CLEANED_IDS + 5
    assert result.cleaned_ids == [f"003{i:015d}" for i in range(1, CLEANED_IDS + 1)]


def test_a_lone_carriage_return_stays_in_its_value_and_in_rejects_csv(tmp_path):
    rows = [contact(1, Title="one\rtwo", Department="\r"), contact(2, Title="bad\rrow", Birthdate="x")]
    result = run(tmp_path, rows, threshold=1.0)
    assert (result.rows, result.rejects) == (1, 1)  # one reject, with its Id: the record was not split
    (typed,) = read_typed(tmp_path / "typed" / "part-00000.csv")
    assert (typed["title"], typed["department"]) == ("one\rtwo", "\r")
    (reject,) = read_typed(tmp_path / "typed" / "rejects.csv")
    assert reject["Id"] == "003000000000000002"


def test_every_field_quoted_reads_as_minimal_quoting_does(tmp_path):
    rows = [contact(1, Title='VP, "Growth"\r\nline', Email="", MailingLatitude="1.0E-4"), contact(2)]
    run(tmp_path / "minimal", rows)
    run(tmp_path / "quoted", rows, quote_all=True)
    assert (tmp_path / "quoted" / "raw" / "part-00000.csv").read_text(encoding="utf-8").startswith('"Id","')
    assert read_typed(tmp_path / "minimal" / "typed" / "part-00000.csv") == read_typed(
        tmp_path / "quoted" / "typed" / "part-00000.csv"
    )


def test_scientific_notation_converts_exactly(tmp_path):
    rows = [contact(1, Days_Since_Created__c="1.6147805824397E13", MailingLatitude="1.0E-4",
                    MailingLongitude="-1.2345678E2")]
    result = run(tmp_path, rows)
    assert result.rejects == 0
    (typed,) = read_typed(tmp_path / "typed" / "part-00000.csv")
    assert typed["days_since_created"] == "16147805824397"
    address = json.loads(typed["mailing_address"])
    assert (address["latitude"], address["longitude"]) == (0.0001, -123.45678)


def test_a_nul_in_a_late_block_is_still_removed(tmp_path, monkeypatch):
    """The transform looks for NUL characters from the first NUL byte read on: a later block still counts."""
    import salesforce_elt.engine.transform as transform_module

    monkeypatch.setattr(transform_module, "BLOCK_BYTES", 4096)
    rows = [contact(i) for i in range(1, 200)] + [contact(200, Title="late\x00")]
    result = run(tmp_path, rows)
    assert (result.rows, result.cleaned, result.cleaned_ids) == (200, 1, ["003000000000000200"])
    assert read_typed(tmp_path / "typed" / "part-00000.csv")[-1]["title"] == "late"
