"""The vectorized transform agrees with the ``types`` converters, value for value.

``types`` is the definition of what each describe type accepts and how it prints; the pyarrow
kernels (``columnar``) are only a fast path. Thousands of rows of valid, odd and invalid values
of every type go through ``transform_files``; the expected output of every row is computed here
with the Python converters alone, row by row (the row loop the transform used before it was
vectorized), after removing NUL characters from the text values as the transform documents.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from salesforce_elt.engine import activity, types
from salesforce_elt.engine.csv_rows import CsvRowWriter
from salesforce_elt.engine.registry import DerivedColumn, FieldSpec, SObjectSpec, address, location
from salesforce_elt.engine.transform import build_plan, text_positions, transform_files

WIDGET = SObjectSpec(
    name="Widget__c",
    table="sf_widgets",
    key_prefix="a0X",
    fields=(
        FieldSpec("Name", "name", "string", length=12),
        FieldSpec("Code__c", "code", "string", length=5, nullable=False),
        FieldSpec("Notes__c", "notes", "textarea", length=32000),
        FieldSpec("Owner__c", "owner_id", "reference", length=18),
        FieldSpec("Active__c", "active", "boolean"),
        FieldSpec("Seats__c", "seats", "int"),
        FieldSpec("Big__c", "big", "long"),
        FieldSpec("Price__c", "price", "currency", precision=6, scale=2),
        FieldSpec("Ratio__c", "ratio", "percent", precision=3, scale=3),
        FieldSpec("Score__c", "score", "double"),
        FieldSpec("Due__c", "due", "date"),
        FieldSpec("At__c", "at", "datetime"),
        FieldSpec("Opens__c", "opens", "time"),
        FieldSpec("Tags__c", "tags", "multipicklist"),
        FieldSpec("Blob__c", "blob", "anyType"),
        location("Spot__c", "spot"),
        address("Billing", "billing"),
        FieldSpec("SystemModstamp", "sf_system_modstamp", "datetime", nullable=False),
        FieldSpec("IsDeleted", "is_deleted", "boolean", nullable=False),
    ),
    derived=(DerivedColumn("kind", "picklist", ("Name", "Owner__c"), activity.task_activity_type, length=16),),
    constants=(("source", "widget"),),
)

CANDIDATES = {
    "string": ["", "abc", "exactly12chr", "thirteen chrs", "ünïcödé 🚀", 'a "quoted", value', "two\nlines", " ",
               "nul\x00inside", "\x00", "exactly12chr\x00", "lone\rcr"],
    "textarea": ["", "x" * 300, "line\r\nbreak", "\\back\\slash", "\x00\x00", "\\N", "\n\\.\n"],
    "reference": ["", "0055g00000ABCDEFGH", "0055g00000ABCDEAA", "0055g00000ABCDE", "005-bad", "0055g00000ABCDÉFGH",
                  "0055g00000ABCDEFG\n"],
    "boolean": ["", "true", "false", "TRUE", "False", "yes", "1", "tRuE"],
    "int": ["", "0", "-0", "7", "007", "+5", "2147483647", "2147483648", "-2147483648", "12.0", "12.5", "1e3", "x",
            "999999999", "-999999999", "1.0E3", "1.5E0", "2.147483647E9", "1E+100000000", "1\x002", "1_000"],
    "long": ["", "9223372036854775807", "9223372036854775808", "123456789012345678", "-1", "1.6147805824397E13",
             "9.3E18"],
    "currency": ["", "0", "1234.56", "12345.6", "-9999.99", "1e2", "NaN", "abc", "0.001", "00001234.5", "1234.", ".5",
                 "1.23456E3", "1.0E-4", "1E-999999999", "1.0E4", "1.2\x00"],
    "percent": ["", "0.5", "0", "1", "-0.125", "0.0001"],
    "double": ["", "3.14", "-2", "1E10", "inf", "1.5e-3", "1.6147805824397E13", "1E400", "1E-400", "1" + "0" * 400,
               "4.9E-324"],
    "date": ["", "2024-02-29", "2023-02-29", "2024-13-01", "2024-01-02", "20240102", "31/02/2024", "0001-01-01",
             "2024-1-02"],
    "datetime": ["", "2024-01-02T03:04:05.000Z", "2024-01-02T03:04:05.000+0000", "2024-02-30T03:04:05.000Z",
                 "2024-01-02T24:00:00.000Z", "2024-01-02T03:04:60.000Z", "2024-01-02T03:04:05Z",
                 "2024-01-02T03:04:05.123456+0530", "2024-01-02 03:04:05", "2024-01-02T03:04:05.000-0800", "nope"],
    "time": ["", "13:50:40.848Z", "13:50:40Z", "25:00:00.000Z", "noon"],
    "multipicklist": ["", "A", "A;B", 'quote"d;back\\slash', ";lead;", "ü;🚀"],
    "anyType": ["", "anything", "{json}"],
    "latitude": ["", "47.376886", "-8.5", "1e3", "abc", "0", "01.5", "+1", "1.0E-4", "4.9E-324", "4\x007"],
    "component": ["", "1 Main St", 'Quote "St"', "Tab\there", "Ctl\x01", "Back\\slash", "Zürich", "N\x00UL", "\x00"],
    "key": ["a0X000000000001AAA", "a0X000000000001", "a0Y000000000001AAA", "", "a0X00000000000!AAA"],
}


def _write_rows(f, rows: list[list[str]]) -> None:
    """Raw CSV in the staging dialect (a row holding a lone CR is quoted in full)."""
    writer = CsvRowWriter(f)
    for row in rows:
        writer.writerow(row)


def _candidates(field: FieldSpec) -> list[str]:
    return CANDIDATES[field.sf_type] if field.sf_type in CANDIDATES else CANDIDATES["string"]


def _raw_rows(count: int, seed: int) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    header = list(WIDGET.soql_fields)
    by_name: dict[str, list[str]] = {"Id": CANDIDATES["key"]}
    for f in WIDGET.fields:
        if f.components:
            for sf_name, key in f.components:
                by_name[sf_name] = CANDIDATES["latitude" if key in types.NUMERIC_KEYS else "component"]
        else:
            by_name[f.sf_name] = _candidates(f)
    rows = []
    for i in range(count):
        # Clean values (index 1 of each list: valid, not empty) with odd ones sprinkled in.
        row = [rng.choice(by_name[n]) if rng.random() < 0.15 else by_name[n][1] for n in header]
        if rng.random() < 0.9:
            row[0] = f"a0X{i:012d}AAA"
        rows.append(row)
    return header, rows


def _expected(header: list[str], rows: list[list[str]]) -> tuple[list[dict[str, str | None]], list[str]]:
    """Row by row with the Python converters only: typed rows, and the Ids of the rejected rows."""
    plan = build_plan(WIDGET, header)
    texts = text_positions(WIDGET, header)
    typed, rejected = [], []
    for row in rows:
        row = [value.replace("\x00", "") if i in texts else value for i, value in enumerate(row)]
        try:
            values = [convert(row[i]) for _name, i, convert in plan.plain]
            values += [convert(tuple(row[i] for i in at)) for _name, at, convert in plan.compound]
        except types.ConversionError:
            rejected.append(row[0])
            continue
        values += [value for _name, value in plan.constants]
        typed.append(dict(zip(plan.columns, values, strict=True)))
    return typed, rejected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorized_transform_equals_the_python_converters(tmp_path: Path, seed: int):
    header, rows = _raw_rows(3000, seed)
    raw = tmp_path / "raw"
    raw.mkdir()
    # Several parts, and one part bigger than a block, so block boundaries are crossed.
    parts = {"part-00000.csv": rows[:1000], "part-00001.csv": rows[1000:]}
    for name, part in parts.items():
        with open(raw / name, "w", newline="", encoding="utf-8") as f:
            _write_rows(f, [header, *part])

    result = transform_files(WIDGET, header, raw, list(parts), tmp_path / "typed", reject_threshold=1.0)

    expected_rows, expected_rejects = _expected(header, rows)
    got_rows = []
    for name in parts:
        with open(tmp_path / "typed" / name, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            assert reader.fieldnames == result.columns
            # The typed CSV never holds an empty string: an empty field is NULL.
            got_rows += [{k: (v if v != "" else None) for k, v in row.items()} for row in reader]
    assert result.rows == len(expected_rows) and result.rejects == len(expected_rejects)
    assert 0 < len(expected_rejects) < len(rows)
    for got, want in zip(got_rows, expected_rows, strict=True):
        assert got == want
    with open(tmp_path / "typed" / "rejects.csv", newline="", encoding="utf-8") as f:
        assert [r["Id"] for r in csv.DictReader(f)] == expected_rejects


def test_blocks_smaller_than_the_file_give_the_same_output(tmp_path: Path, monkeypatch):
    from salesforce_elt.engine import transform

    header, rows = _raw_rows(2000, 7)
    raw = tmp_path / "raw"
    raw.mkdir()
    with open(raw / "part-00000.csv", "w", newline="", encoding="utf-8") as f:
        _write_rows(f, [header, *rows])
    whole = transform_files(WIDGET, header, raw, ["part-00000.csv"], tmp_path / "one", reject_threshold=1.0)
    monkeypatch.setattr(transform, "BLOCK_BYTES", 16 * 1024)
    blocks = transform_files(WIDGET, header, raw, ["part-00000.csv"], tmp_path / "many", reject_threshold=1.0)
    assert (whole.rows, whole.rejects) == (blocks.rows, blocks.rejects)
    one = (tmp_path / "one" / "part-00000.csv").read_bytes()
    assert one == (tmp_path / "many" / "part-00000.csv").read_bytes()


def test_transforming_clean_data_does_not_import_pandas(tmp_path: Path):
    """pyarrow imports pandas on its first Python-object conversion: ~2 s and ~40 MB per task."""
    header, rows = _raw_rows(200, 11)
    clean = [row for row in rows if row[0].endswith("AAA")]
    raw = tmp_path / "raw"
    raw.mkdir()
    with open(raw / "part-00000.csv", "w", newline="", encoding="utf-8") as f:
        _write_rows(f, [header, *clean])
    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from tests.unit.test_columnar_transform import WIDGET\n"
        "from salesforce_elt.engine.transform import transform_files\n"
        f"header = json.loads({json.dumps(json.dumps(header))})\n"
        f"transform_files(WIDGET, header, Path({str(raw)!r}), ['part-00000.csv'], Path({str(tmp_path / 'typed')!r}),"
        " reject_threshold=1.0)\n"
        "print('pandas' in sys.modules)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    assert (tmp_path / "typed" / "part-00000.csv").stat().st_size > 0
