"""The settings module: SALESFORCE_ELT_<KEY>, else Airflow's [salesforce_elt] <key>, else the default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from salesforce_elt import settings
from salesforce_elt.airflow import assets
from salesforce_elt.airflow.provider_info import get_provider_info
from salesforce_elt.engine import registry
from salesforce_elt.ops import budget, drift
from tests.support.databases import REPO


@pytest.fixture
def clean(monkeypatch):
    """Neither source set for any setting (the test session's own staging URL included)."""
    for setting in settings.SETTINGS.values():
        monkeypatch.delenv(setting.env, raising=False)
        monkeypatch.delenv(setting.airflow_env, raising=False)
    return monkeypatch


def test_defaults_when_nothing_is_set(clean):
    clean.setenv("AIRFLOW_HOME", "/srv/airflow")
    assert settings.SALESFORCE_CONN_ID == "salesforce_default"
    assert settings.WAREHOUSE_CONN_ID == "salesforce_warehouse"
    assert settings.SMTP_CONN_ID == "smtp_default"
    assert settings.warehouse_url() is None
    assert registry.warehouse_schema() == settings.warehouse_schema() == "salesforce"
    assert settings.staging_base() == "file:///srv/airflow/salesforce_staging"
    assert settings.staging_retention_days() == 3
    assert settings.reject_threshold() == 0.01
    assert settings.alert_recipients() == []
    assert (budget.api_reserve(), budget.budget_action()) == (0.20, "skip")
    assert (drift.enabled(), settings.drift_fails(), settings.formula_refresh()) == (True, False, False)
    assert assets.warehouse_base_uri() == "postgres://salesforce-warehouse:5432/warehouse"
    assert settings.project_home() == REPO


def test_the_airflow_config_section_is_read_when_the_old_variable_is_unset(clean):
    clean.setenv("AIRFLOW__SALESFORCE_ELT__SCHEMA", "from_airflow")
    clean.setenv("AIRFLOW__SALESFORCE_ELT__WAREHOUSE_CONN_ID", "dwh")
    clean.setenv("AIRFLOW__SALESFORCE_ELT__API_RESERVE", "0.5")
    clean.setenv("AIRFLOW__SALESFORCE_ELT__DRIFT_GUARD", "off")
    clean.setenv("AIRFLOW__SALESFORCE_ELT__FORMULA_REFRESH", "Yes")
    clean.setenv("AIRFLOW__SALESFORCE_ELT__ALERT_EMAILS", " a@x.io, ,b@x.io ")
    clean.setenv("AIRFLOW__SALESFORCE_ELT__STAGING_URL", "s3://bucket/prefix/")
    clean.setenv("AIRFLOW__SALESFORCE_ELT__STAGING_RETENTION_DAYS", "7")
    assert registry.warehouse_schema() == "from_airflow"
    assert settings.WAREHOUSE_CONN_ID == "dwh"
    assert budget.api_reserve() == 0.5
    assert drift.enabled() is False
    assert settings.formula_refresh() is True
    assert settings.alert_recipients() == ["a@x.io", "b@x.io"]
    assert settings.staging_base() == "s3://bucket/prefix"
    assert settings.staging_retention_days() == 7


def test_the_old_variable_wins_over_the_airflow_config_and_blank_counts_as_unset(clean):
    clean.setenv("AIRFLOW__SALESFORCE_ELT__SCHEMA", "from_airflow")
    clean.setenv("SALESFORCE_ELT_SCHEMA", "from_env")
    assert registry.warehouse_schema() == "from_env"
    assert settings.lookup("schema") == ("from_env", "SALESFORCE_ELT_SCHEMA")
    clean.setenv("SALESFORCE_ELT_SCHEMA", "  ")
    assert settings.lookup("schema") == ("from_airflow", "[salesforce_elt] schema")
    clean.delenv("AIRFLOW__SALESFORCE_ELT__SCHEMA")
    assert registry.warehouse_schema() == "salesforce"


def test_home_is_environment_only(clean, tmp_path):
    clean.setenv("AIRFLOW__SALESFORCE_ELT__HOME", str(tmp_path))
    assert settings.project_home() == REPO
    clean.setenv("SALESFORCE_ELT_HOME", str(tmp_path))
    assert settings.project_home() == tmp_path


@pytest.mark.parametrize(
    ("word", "value"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), (" on ", True),
     ("false", False), ("0", False), ("No", False), ("off", False)],
)
def test_one_boolean_parser_for_every_flag(clean, word, value):
    for key, read in (("drift_guard", drift.enabled), ("drift_fails", settings.drift_fails),
                      ("formula_refresh", settings.formula_refresh)):
        clean.setenv(settings.SETTINGS[key].env, word)
        assert read() is value, key


def test_a_bad_value_names_the_setting_and_where_it_came_from(clean):
    clean.setenv("SALESFORCE_ELT_DRIFT_GUARD", "maybe")
    with pytest.raises(ValueError, match=r"SALESFORCE_ELT_DRIFT_GUARD='maybe' is not a boolean"):
        drift.enabled()
    clean.setenv("AIRFLOW__SALESFORCE_ELT__DRIFT_FAILS", "sometimes")
    with pytest.raises(ValueError, match=r"\[salesforce_elt\] drift_fails='sometimes' is not a boolean"):
        settings.drift_fails()
    clean.setenv("AIRFLOW__SALESFORCE_ELT__API_RESERVE", "20%")
    with pytest.raises(ValueError, match=r"\[salesforce_elt\] api_reserve='20%' is not a number"):
        budget.api_reserve()
    clean.setenv("SALESFORCE_ELT_STAGING_RETENTION_DAYS", "three")
    with pytest.raises(ValueError, match="SALESFORCE_ELT_STAGING_RETENTION_DAYS='three' is not a whole"):
        settings.staging_retention_days()
    clean.setenv("SALESFORCE_ELT_REJECT_THRESHOLD", "1%")
    with pytest.raises(ValueError, match="SALESFORCE_ELT_REJECT_THRESHOLD='1%' is not a number"):
        settings.reject_threshold()
    clean.setenv("AIRFLOW__SALESFORCE_ELT__BUDGET_ACTION", "pause")
    with pytest.raises(ValueError, match=r"\[salesforce_elt\] budget_action='pause' must be one of"):
        budget.budget_action()
    clean.setenv("AIRFLOW__SALESFORCE_ELT__WAREHOUSE_ASSET_URI", "postgres://u:p@h:5432/db")
    with pytest.raises(ValueError, match=r"\[salesforce_elt\] warehouse_asset_uri must not contain"):
        assets.warehouse_base_uri()


def test_the_provider_declares_every_airflow_setting_with_its_default():
    section = get_provider_info()["config"]["salesforce_elt"]
    declared = {key: option["default"] for key, option in section["options"].items()}
    expected = {s.key: s.default for s in settings.SETTINGS.values() if s.in_airflow_config}
    assert declared == expected and "home" not in declared
    assert section["options"]["warehouse_url"]["sensitive"] is True
    assert {option["type"] for option in section["options"].values()} <= {"string", "boolean", "integer", "float"}


def _airflow_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_ELT_", "AIRFLOW__SALESFORCE_ELT__"))}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW_CONFIG=str(home / "airflow.cfg"), **extra)
    return env


def test_airflow_cfg_is_read_and_the_old_variable_still_wins(tmp_path):
    (tmp_path / "airflow.cfg").write_text(
        textwrap.dedent(
            """
            [salesforce_elt]
            schema = cfg_schema
            drift_guard = no
            reject_threshold = 0.05
            """
        )
    )
    script = (
        "import json; from salesforce_elt import settings as s; "
        "print(json.dumps([s.warehouse_schema(), s.drift_guard(), s.reject_threshold()]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], env=_airflow_env(tmp_path, SALESFORCE_ELT_REJECT_THRESHOLD="0.2"),
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert json.loads(run.stdout.strip().splitlines()[-1]) == ["cfg_schema", False, 0.2]


def test_airflow_config_list_shows_the_section(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "airflow", "config", "list", "--section", "salesforce_elt", "--show-values",
         "--include-descriptions"],
        env=_airflow_env(tmp_path), capture_output=True, text=True, timeout=180, check=True,
    )
    out = run.stdout
    assert "[salesforce_elt]" in out
    for line in ("schema = salesforce", "warehouse_conn_id = salesforce_warehouse", "api_reserve = 0.20",
                 "budget_action = skip", "drift_guard = true", "staging_retention_days = 3"):
        assert line in out, line
    assert "SALESFORCE_ELT_API_RESERVE (wins when set)" in out


def test_preflight_names_each_bad_setting_and_is_silent_when_all_parse(clean):
    from salesforce_elt.ops import preflight

    assert preflight.check_settings() == []
    clean.setenv("SALESFORCE_ELT_DRIFT_FAILS", "perhaps")
    clean.setenv("AIRFLOW__SALESFORCE_ELT__STAGING_RETENTION_DAYS", "3d")
    lines = [f.line() for f in preflight.check_settings()]
    assert lines == [
        "FAIL settings: [salesforce_elt] staging_retention_days='3d' is not a whole number"
        " -> fix the value, or unset it for the default",
        "FAIL settings: SALESFORCE_ELT_DRIFT_FAILS='perhaps' is not a boolean (true/false, yes/no, on/off, 1/0)"
        " -> fix the value, or unset it for the default",
    ]
