"""Real Airflow services (api-server, scheduler, dag-processor, triggerer) on LocalExecutor.

Used by `make airflow`-like tests that need the scheduler itself: backfills, deferral through the
triggerer, Params validation in the trigger path. Airflow's metadata DB lives in its own database on
the embedded Postgres (SQLite serializes the scheduler and the workers too much for these tests).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from embedded_stack.stack import REPO, StackError

SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_database(server_url: str, name: str) -> str:
    """A fresh database on the server of `server_url`; returns its SQLAlchemy psycopg2 URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base = server_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://", 1)
    return f"{base}/{name}"


@dataclass
class AirflowServices:
    home: Path
    metadata_url: str  # SQLAlchemy URL of an empty or migrated database
    extra_env: dict[str, str] = field(default_factory=dict)
    dags_folder: Path = REPO / "dags"
    api_port: int = 0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.api_port}",
            # Every process must sign and check the same task tokens.
            "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            **self.extra_env,
        }

    def __post_init__(self) -> None:
        self.api_port = self.api_port or _free_port()
        self._jwt_secret = secrets.token_urlsafe(32)
        (self.home / "logs").mkdir(parents=True, exist_ok=True)

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run an `airflow` CLI command against these services' metadata DB; returns stdout."""
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise StackError(f"airflow {' '.join(args)} failed: {result.stderr[-3000:]}")
        return result.stdout

    def airflow_json(self, *args: str) -> object:
        """An `airflow ... -o json` command's result (log lines on stdout are skipped)."""
        for line in reversed(self.airflow(*args, "-o", "json").splitlines()):
            if line.startswith(("[", "{")):
                return json.loads(line)
        raise StackError(f"airflow {' '.join(args)} printed no JSON")

    def start(self, timeout: float = 240) -> AirflowServices:
        self.airflow("db", "migrate")
        for name in SERVICES:
            log = (self.home / "logs" / f"{name}.log").open("ab")
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *name.split()],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._wait_healthy(timeout)
        return self

    def health(self) -> dict:
        url = f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return json.load(response)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise StackError(f"airflow {name} exited ({process.returncode}): see {self.home / 'logs'}")
            try:
                last = self.health()
                if all(
                    (last.get(part) or {}).get("status") == "healthy"
                    for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                ):
                    return
            except OSError as exc:
                last = exc
            time.sleep(1)
        raise StackError(f"Airflow services not healthy after {timeout:.0f}s: {last}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()

    def __enter__(self) -> AirflowServices:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
