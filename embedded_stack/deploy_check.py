"""Offline checks of the container deployment: no Docker engine is needed.

1. docker-compose.yaml against the Compose Specification's JSON schema (vendored by
   check-jsonschema), and `docker-compose config -q` too when Debian's docker-compose is installed.
2. The Dockerfile and the compose file agree with the lock and the folder layout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
REQUIRED_SERVICES = {
    "postgres", "warehouse", "redis", "airflow-apiserver", "airflow-scheduler",
    "airflow-dag-processor", "airflow-triggerer", "airflow-worker", "airflow-init",
}
SERVICE_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}

# What the image must bring for CeleryExecutor and s3:// staging.
STAGING_AND_CELERY_PACKAGES = ("apache-airflow-providers-celery", "apache-airflow-providers-amazon", "s3fs", "redis")
# Settings every Airflow service (workers included) must see alike.
COMMON_SETTINGS = (
    "AIRFLOW__CELERY__BROKER_URL",
    "SALESFORCE_ELT_STAGING_URL",
    "AIRFLOW_CONN_AWS_DEFAULT",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT",
    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT",
)


def locked_version(package: str, lock: Path = REPO / "requirements.txt") -> str:
    match = re.search(rf"^{re.escape(package)}==([^\s;]+)", lock.read_text(), re.MULTILINE | re.IGNORECASE)
    if not match:
        raise ValueError(f"{package} is not pinned in {lock.name}")
    return match.group(1)


def schema_errors(compose_file: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(compose_file)],
        capture_output=True, text=True,
    )
    return [] if result.returncode == 0 else [f"compose schema: {result.stdout.strip()} {result.stderr.strip()}"]


def docker_compose_errors(compose_file: Path) -> list[str] | None:
    """`docker-compose config -q` (Debian's v1.29 works without an engine); None when not installed."""
    binary = shutil.which("docker-compose")
    if not binary:
        return None
    result = subprocess.run([binary, "-f", str(compose_file), "config", "-q"], capture_output=True, text=True)
    return [] if result.returncode == 0 else [f"docker-compose config: {result.stderr.strip()}"]


def celery_and_staging_errors(repo: Path, compose: dict) -> list[str]:
    errors: list[str] = []
    # The image installs the lock: CeleryExecutor needs the celery provider and the Redis client,
    # s3:// staging the Amazon provider with s3fs (ObjectStoragePath's s3 filesystem).
    for package in STAGING_AND_CELERY_PACKAGES:
        try:
            locked_version(package, repo / "requirements.txt")
        except ValueError:
            errors.append(f"requirements.txt must lock {package} (installed in the image: CeleryExecutor, s3:// staging)")
    common_env = (compose.get("x-airflow-common") or {}).get("environment") or {}
    if common_env.get("AIRFLOW__CORE__EXECUTOR") != "CeleryExecutor":
        errors.append("x-airflow-common must set AIRFLOW__CORE__EXECUTOR: CeleryExecutor")
    for name in COMMON_SETTINGS:
        if name not in common_env:
            errors.append(f"x-airflow-common must pass {name} to every Airflow service")
    return errors


def layout_errors(repo: Path = REPO) -> list[str]:
    errors: list[str] = []
    airflow_version = locked_version("apache-airflow", repo / "requirements.txt")
    dockerfile = (repo / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+apache/airflow:(\S+)", dockerfile, re.MULTILINE)
    if not base or base.group(1) != f"{airflow_version}-python3.11":
        errors.append(f"Dockerfile must build FROM apache/airflow:{airflow_version}-python3.11 (the locked Airflow)")
    if f"AIRFLOW_VERSION={airflow_version}" not in dockerfile:
        errors.append(f"Dockerfile must pin ARG AIRFLOW_VERSION={airflow_version}")
    if "requirements.txt" not in dockerfile:
        errors.append("Dockerfile must install requirements.txt")
    # The project's metadata-only distribution carries the provider entry point that registers the
    # salesforce_elt connection type: without it the UI has no form fields and no Test button for it.
    if not re.search(r"^COPY\s+(?:--\S+\s+)*pyproject\.toml\s", dockerfile, re.MULTILINE) or not re.search(
        r"^RUN\s+pip install\b.*--no-deps", dockerfile, re.MULTILINE
    ):
        errors.append(
            "Dockerfile must copy pyproject.toml and `pip install --no-deps` the project, whose provider "
            "entry point registers the salesforce_elt connection type"
        )
    for source in re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s+\S+", dockerfile, re.MULTILINE):
        if not (repo / source).exists():
            errors.append(f"Dockerfile copies {source}, which does not exist")

    compose = yaml.safe_load((repo / "docker-compose.yaml").read_text())
    errors += celery_and_staging_errors(repo, compose)
    services = compose.get("services", {})
    missing = REQUIRED_SERVICES - services.keys()
    if missing:
        errors.append(f"docker-compose.yaml lacks services: {', '.join(sorted(missing))}")
    for name, command in SERVICE_COMMANDS.items():
        if name in services and services[name].get("command") != command:
            errors.append(f"service {name} must run `{command}`")
    for name, service in services.items():
        if name.startswith("airflow-") and service.get("build") != ".":
            errors.append(f"service {name} must build the project's Dockerfile (build: .)")
        for volume in service.get("volumes", []):
            host = str(volume).split(":", 1)[0]
            if host.startswith("./") and not (repo / host).exists():
                errors.append(f"service {name} mounts {host}, which does not exist")
    init_command = " ".join(services.get("airflow-init", {}).get("command", []))
    if "python -m salesforce_elt migrate" not in init_command:
        errors.append("airflow-init must apply the project's Alembic migrations")
    return errors


def check_deployment_files() -> int:
    compose_file = REPO / "docker-compose.yaml"
    errors = schema_errors(compose_file) + layout_errors()
    compose_cli = docker_compose_errors(compose_file)
    if compose_cli is not None:
        errors += compose_cli
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if not errors:
        checked = "schema" + (", docker-compose config" if compose_cli is not None else "")
        print(f"deployment files OK ({checked}, Dockerfile and compose agree with the lock and layout)")
    return 1 if errors else 0
