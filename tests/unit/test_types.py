"""Every Salesforce describe type: its Postgres column type and its value converter."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.dialects import postgresql as pg

from salesforce_elt.engine import types
from salesforce_elt.engine.registry import FieldSpec, address, location


def ddl(field: FieldSpec) -> str:
    return str(types.column_type(field).compile(dialect=pg.dialect()))


def convert(sf_type: str, value: str, **kwargs) -> str | None:
    return types.converter(FieldSpec("X__c", "x", sf_type, **kwargs))(value)


def rejected(sf_type: str, value: str, **kwargs) -> str:
    with pytest.raises(types.ConversionError) as info:
        convert(sf_type, value, **kwargs)
    return str(info.value)


@pytest.mark.parametrize(
    "sf_type", ["string", "textarea", "email", "phone", "url", "picklist", "combobox", "encryptedstring"]
)
def test_string_like_types_are_varchar_of_their_length_and_reject_longer_values(sf_type):
    assert ddl(FieldSpec("X__c", "x", sf_type, length=5)) == "VARCHAR(5)"
    assert convert(sf_type, "héllo", length=5) == "héllo"
    assert "6 characters, longer than the column's 5" in rejected(sf_type, "héllo!", length=5)
    assert convert(sf_type, "", length=5) is None  # Salesforce never stores "": empty is null


def test_string_longer_than_varchar_limit_or_without_length_is_text():
    assert ddl(FieldSpec("X__c", "x", "string", length=types.VARCHAR_MAX + 1)) == "TEXT"
    assert ddl(FieldSpec("X__c", "x", "string")) == "TEXT"
    assert convert("string", "x" * 100_000) == "x" * 100_000


def test_long_textarea_is_text_short_textarea_is_varchar():
    assert ddl(FieldSpec("D", "d", "textarea", length=32_000)) == "TEXT"
    assert ddl(FieldSpec("D", "d", "textarea", length=255)) == "VARCHAR(255)"
    assert convert("textarea", "line 1\nline 2", length=32_000) == "line 1\nline 2"


@pytest.mark.parametrize("sf_type", ["id", "reference"])
def test_id_and_reference_are_varchar_18_and_must_look_like_ids(sf_type):
    assert ddl(FieldSpec("AccountId", "account_id", sf_type)) == "VARCHAR(18)"
    assert convert(sf_type, "001000000000001AAA") == "001000000000001AAA"
    assert convert(sf_type, "001000000000001") == "001000000000001"  # 15-character form
    assert "not a Salesforce id" in rejected(sf_type, "001-not-an-id")
    assert convert(sf_type, "") is None


def test_boolean():
    assert ddl(FieldSpec("B", "b", "boolean")) == "BOOLEAN"
    assert (convert("boolean", "true"), convert("boolean", "false"), convert("boolean", "TRUE")) == (
        "true",
        "false",
        "true",
    )
    assert "not a boolean" in rejected("boolean", "yes")


def test_int_is_integer_with_32_bit_range():
    assert ddl(FieldSpec("N", "n", "int")) == "INTEGER"
    assert convert("int", "-42") == "-42"
    assert convert("int", "12.0") == "12"  # whole-number doubles are accepted
    assert "32-bit" in rejected("int", str(2**31))
    assert "not an integer" in rejected("int", "1.5")


@pytest.mark.parametrize("sf_type", ["int", "long"])
def test_integers_take_scientific_notation_exactly(sf_type):
    assert convert(sf_type, "1.0E3") == "1000"
    assert convert(sf_type, "1E+3") == "1000"
    assert convert(sf_type, "-2.5E1") == "-25"
    assert convert(sf_type, "0E+7") == "0"
    assert "not an integer: '1.5E0'" in rejected(sf_type, "1.5E0")
    assert "not an integer" in rejected(sf_type, "1.0E-3")
    for not_a_number in ("NaN", "Infinity", "1_000", " 12", "١٢"):
        assert "not an integer" in rejected(sf_type, not_a_number)


@pytest.mark.parametrize(("sf_type", "bits"), [("int", 32), ("long", 64)])
def test_huge_exponents_are_rejected_without_building_the_number(sf_type, bits):
    # int(Decimal("1E+100000000")) would take minutes; the range check comes first.
    assert f"{bits}-bit" in rejected(sf_type, "1E+100000000")
    assert f"{bits}-bit" in rejected(sf_type, "9.3E18" if bits == 64 else "2.2E9")


def test_long_is_bigint():
    assert ddl(FieldSpec("N", "n", "long")) == "BIGINT"
    assert convert("long", str(2**40)) == str(2**40)
    assert "64-bit" in rejected("long", str(2**63))


@pytest.mark.parametrize("sf_type", ["double", "currency", "percent"])
def test_decimal_types_are_numeric_with_precision_and_scale(sf_type):
    assert ddl(FieldSpec("A", "a", sf_type, precision=18, scale=2)) == "NUMERIC(18, 2)"
    assert convert(sf_type, "1234.56", precision=18, scale=2) == "1234.56"
    assert "more than 3 digits" in rejected(sf_type, "12345.5", precision=5, scale=2)
    assert "not a number" in rejected(sf_type, "12,5", precision=5, scale=2)
    for not_a_number in ("NaN", "Infinity", "1_000", " 12", "١٢", "0x1F"):
        assert "not a number" in rejected(sf_type, not_a_number, precision=5, scale=2)


@pytest.mark.parametrize("sf_type", ["double", "currency", "percent"])
def test_decimal_types_take_scientific_notation_exactly(sf_type):
    # Salesforce prints large and small doubles like Java's Double.toString.
    assert convert(sf_type, "1.6147805824397E13", precision=18, scale=0) == "16147805824397"
    assert convert(sf_type, "1.6147805824397E13", precision=18, scale=2) == "16147805824397.00"
    assert convert(sf_type, "1.0E-4", precision=18, scale=6) == "0.000100"
    assert convert(sf_type, "1.25E-1", precision=18, scale=2) == "0.13"  # rounded half away from zero, as PostgreSQL
    assert convert(sf_type, "-1.25E-1", precision=18, scale=2) == "-0.13"
    # Exponents PostgreSQL's numeric input would refuse (beyond +-1000) become plain digits, or a reject.
    assert convert(sf_type, "1E-999999999", precision=18, scale=2) == "0.00"
    assert "more than 16 digits" in rejected(sf_type, "1.0E16", precision=18, scale=2)
    assert "more than 16 digits" in rejected(sf_type, "1E999999999999999999", precision=18, scale=2)


def test_double_precision_column_rejects_what_a_double_cannot_hold():
    assert convert("double", "1.6147805824397E13") == "1.6147805824397E13"
    assert convert("double", "4.9E-324") == "4.9E-324"  # the smallest subnormal is still a double
    assert "out of the range of a double" in rejected("double", "1E400")
    assert "out of the range of a double" in rejected("double", "1E-400")
    assert "out of the range of a double" in rejected("double", "1" + "0" * 400)


def test_decimal_without_precision_is_double_precision():
    assert ddl(FieldSpec("A", "a", "double")) == "DOUBLE PRECISION"
    assert convert("double", "1e300") == "1e300"


def test_date():
    assert ddl(FieldSpec("D", "d", "date")) == "DATE"
    assert convert("date", "2024-02-29") == "2024-02-29"
    assert "not a date" in rejected("date", "2023-02-29")
    assert "not a date" in rejected("date", "20240102")


def test_datetime_accepts_bulk_and_rest_formats_as_timestamptz():
    assert ddl(FieldSpec("D", "d", "datetime")) == "TIMESTAMP WITH TIME ZONE"
    assert convert("datetime", "2024-01-02T03:04:05.000Z") == "2024-01-02T03:04:05.000Z"
    assert convert("datetime", "2024-01-02T03:04:05.000+0000") == "2024-01-02T03:04:05.000+00:00"
    assert convert("datetime", "2024-01-02T03:04:05.123-0130") == "2024-01-02T03:04:05.123-01:30"
    assert "without a UTC offset" in rejected("datetime", "2024-01-02T03:04:05")
    assert "not a datetime" in rejected("datetime", "yesterday")


def test_time_drops_the_meaningless_z():
    assert ddl(FieldSpec("T", "t", "time")) == "TIME WITHOUT TIME ZONE"
    assert convert("time", "13:50:40.848Z") == "13:50:40.848000"
    assert "not a time" in rejected("time", "25:00:00Z")


def test_multipicklist_is_a_text_array_split_on_semicolons():
    assert ddl(FieldSpec("M", "m", "multipicklist")) == "TEXT[]"
    assert convert("multipicklist", 'A;B "x";C\\D') == '{"A","B \\"x\\"","C\\\\D"}'
    assert convert("multipicklist", "") is None


@pytest.mark.parametrize("sf_type", ["anyType", "complexvalue"])
def test_opaque_types_are_text(sf_type):
    assert ddl(FieldSpec("V", "v", sf_type)) == "TEXT"
    assert convert(sf_type, "anything, really") == "anything, really"


def test_address_is_jsonb_with_the_rest_keys():
    field = address("Mailing", "mailing_address")
    assert ddl(field) == "JSONB"
    to_json = types.compound_converter(field)
    text = to_json(('1 "Main" St\nFloor 2', "Paris", "", "75001", "France", "48.8566", "2.3522", "Address"))
    assert json.loads(text) == {
        "street": '1 "Main" St\nFloor 2',
        "city": "Paris",
        "state": None,
        "postalCode": "75001",
        "country": "France",
        "latitude": 48.8566,
        "longitude": 2.3522,
        "geocodeAccuracy": "Address",
    }
    assert to_json(("",) * 8) is None
    with pytest.raises(types.ConversionError, match="not a number"):
        to_json(("", "", "", "", "", "north", "", ""))


def test_location_is_jsonb_latitude_longitude():
    field = location("Clinic__c", "clinic")
    assert ddl(field) == "JSONB"
    assert [sf for sf, _ in field.components] == ["Clinic__Latitude__s", "Clinic__Longitude__s"]
    assert json.loads(types.compound_converter(field)(("-33.8688", "151.2093"))) == {
        "latitude": -33.8688,
        "longitude": 151.2093,
    }


def test_base64_is_excluded_with_a_reason():
    field = FieldSpec("Body", "body", "base64")
    with pytest.raises(types.UnsupportedFieldType, match="Body.*base64.*not synced"):
        types.column_type(field)
    with pytest.raises(types.UnsupportedFieldType, match="not synced"):
        types.converter(field)


def test_unknown_type_is_refused_by_name():
    with pytest.raises(types.UnsupportedFieldType, match="unknown Salesforce describe type 'blob'"):
        types.column_type(FieldSpec("X", "x", "blob"))


def test_required_turns_empty_into_a_reject():
    strict = types.required(types.converter(FieldSpec("SystemModstamp", "m", "datetime")))
    with pytest.raises(types.ConversionError, match="required value is empty"):
        strict("")


def test_key_converter_checks_the_object_prefix():
    key = types.key_converter("Contact", "003")
    assert key("003000000000001AAA") == "003000000000001AAA"
    with pytest.raises(types.ConversionError, match="not a Contact id"):
        key("001000000000001AAA")
