"""The container deployment validates offline and agrees with the lock and the folder layout."""

from __future__ import annotations

import shutil

import pytest
import yaml

from embedded_stack import deploy_check
from embedded_stack.deploy_check import REPO


def test_compose_file_matches_the_compose_specification():
    assert deploy_check.schema_errors(REPO / "docker-compose.yaml") == []


def test_compose_file_passes_docker_compose_config_when_installed():
    errors = deploy_check.docker_compose_errors(REPO / "docker-compose.yaml")
    if errors is None:
        pytest.skip("Debian's docker-compose is not installed; the schema test above still validates the file")
    assert errors == []


def test_dockerfile_and_compose_agree_with_lock_and_layout():
    assert deploy_check.layout_errors() == []


def test_schema_check_rejects_an_invalid_compose_file(tmp_path):
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    compose["services"]["redis"]["restart_policy_typo"] = "always"
    broken = tmp_path / "docker-compose.yaml"
    broken.write_text(yaml.safe_dump(compose))
    assert deploy_check.schema_errors(broken)


def test_layout_check_names_what_disagrees(tmp_path):
    for name in ("requirements.txt", "Dockerfile", "docker-compose.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    for folder in ("dags", "plugins", "sql", "migrations"):
        (tmp_path / folder).mkdir()
    (tmp_path / "alembic.ini").touch()
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("apache/airflow:3.3.2-python3.11", "apache/airflow:2.10.0"))
    compose = yaml.safe_load((tmp_path / "docker-compose.yaml").read_text())
    del compose["services"]["airflow-triggerer"]
    (tmp_path / "docker-compose.yaml").write_text(yaml.safe_dump(compose))

    errors = deploy_check.layout_errors(tmp_path)

    assert any("FROM apache/airflow:3.3.2-python3.11" in e for e in errors)
    assert any("airflow-triggerer" in e for e in errors)


def _copy_of_the_layout(tmp_path):
    """The files and folders the layout check reads, copied from the repo into ``tmp_path``."""
    for name in ("requirements.txt", "Dockerfile", "docker-compose.yaml", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    for folder in ("dags", "plugins", "sql", "migrations"):
        (tmp_path / folder).mkdir()
    (tmp_path / "alembic.ini").touch()


def test_layout_check_requires_the_project_distribution_in_the_image(tmp_path):
    _copy_of_the_layout(tmp_path)
    assert deploy_check.layout_errors(tmp_path) == []

    dockerfile = tmp_path / "Dockerfile"
    lines = dockerfile.read_text().splitlines()
    dockerfile.write_text("\n".join(line for line in lines if "--no-deps" not in line) + "\n")

    assert any("salesforce_elt connection type" in e for e in deploy_check.layout_errors(tmp_path))


def test_layout_check_requires_celery_and_s3_staging_in_image_and_compose(tmp_path):
    _copy_of_the_layout(tmp_path)
    assert deploy_check.layout_errors(tmp_path) == []

    lock = tmp_path / "requirements.txt"
    lock.write_text("\n".join(line for line in lock.read_text().splitlines() if not line.startswith("s3fs==")) + "\n")
    compose = yaml.safe_load((tmp_path / "docker-compose.yaml").read_text())
    del compose["x-airflow-common"]["environment"]["AIRFLOW_CONN_AWS_DEFAULT"]
    (tmp_path / "docker-compose.yaml").write_text(yaml.safe_dump(compose))

    errors = deploy_check.layout_errors(tmp_path)

    assert any("must lock s3fs" in e for e in errors), errors
    assert any("AIRFLOW_CONN_AWS_DEFAULT" in e for e in errors), errors
