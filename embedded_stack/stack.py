"""The embedded default stack: warehouse Postgres, the Salesforce emulator, an Airflow home.

Everything lives under `.local/` in the checkout. Each part is replaced by a real endpoint when
the matching Airflow connection is already set in the environment:
AIRFLOW_CONN_SALESFORCE_DEFAULT (a real org), AIRFLOW_CONN_SALESFORCE_WAREHOUSE (a real warehouse).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from embedded_stack.connections import postgres_connection, salesforce_connection
from embedded_stack.postgres import EmbeddedPostgres

REPO = Path(__file__).resolve().parents[1]
LOCAL = Path(os.environ.get("SALESFORCE_ELT_LOCAL_DIR", REPO / ".local"))
DEMO_CONTACTS = int(os.environ.get("SALESFORCE_ELT_DEMO_CONTACTS", "20000"))


class StackError(RuntimeError):
    """A one-line, actionable message for the person running make."""


def airflow_environment(home: Path) -> dict[str, str]:
    """The Airflow settings the stack runs with (set before anything imports airflow)."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__SCHEDULER__CREATE_CRON_DATA_INTERVALS": "True",
        "SALESFORCE_ELT_STAGING_URL": os.environ.get(
            "SALESFORCE_ELT_STAGING_URL", f"file://{home / 'salesforce_staging'}"
        ),
    }


@dataclass
class Stack:
    local: Path = LOCAL
    contacts: int = DEMO_CONTACTS
    env: dict[str, str] = field(default_factory=dict)
    postgres: EmbeddedPostgres | None = None
    emulator: subprocess.Popen | None = None
    emulator_info: dict | None = None

    @property
    def airflow_home(self) -> Path:
        return self.local / "airflow"

    @property
    def emulator_dir(self) -> Path:
        return self.local / "emulator"

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> Stack:
        self.local.mkdir(parents=True, exist_ok=True)
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        self.env = airflow_environment(self.airflow_home)
        self._start_warehouse()
        self.check_warehouse()
        self._start_emulator()
        os.environ.update(self.env)
        return self

    def stop(self) -> None:
        if self.emulator and self.emulator.poll() is None:
            self.emulator.send_signal(signal.SIGTERM)
            try:
                self.emulator.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.emulator.kill()
            (self.local / "emulator.pid").unlink(missing_ok=True)
        if self.postgres:
            self.postgres.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _start_warehouse(self) -> None:
        if os.environ.get("AIRFLOW_CONN_SALESFORCE_WAREHOUSE"):
            print("warehouse: using AIRFLOW_CONN_SALESFORCE_WAREHOUSE from the environment")
            return
        self.postgres = EmbeddedPostgres(self.local / "warehouse" / "pgdata").start()
        self.env["AIRFLOW_CONN_SALESFORCE_WAREHOUSE"] = postgres_connection(self.postgres.url)
        self.env["SALESFORCE_ELT_WAREHOUSE_URL"] = self.postgres.url
        print(f"warehouse: embedded PostgreSQL 16 at 127.0.0.1:{self.postgres.port} (data in {self.postgres.data_dir})")

    def _start_emulator(self) -> None:
        if os.environ.get("AIRFLOW_CONN_SALESFORCE_DEFAULT"):
            print("salesforce: using AIRFLOW_CONN_SALESFORCE_DEFAULT from the environment")
            return
        self.emulator_dir.mkdir(parents=True, exist_ok=True)
        log = (self.local / "emulator.log").open("ab")
        self.emulator = subprocess.Popen(
            [sys.executable, "-m", "salesforce_emulator", "serve", "--data-dir", str(self.emulator_dir),
             "--contacts", str(self.contacts), "--port", "0",
             # The wire-format variety of a real org: every Bulk field quoted, Java-style doubles,
             # REST pages shorter than asked for.
             "--wire", "realistic"],
            stdout=subprocess.PIPE, stderr=log, start_new_session=True,
        )
        (self.local / "emulator.pid").write_text(str(self.emulator.pid))
        line = self.emulator.stdout.readline() if self.emulator.stdout else b""
        if not line:
            raise StackError(f"the Salesforce emulator did not start: see {self.local / 'emulator.log'}")
        self.emulator_info = json.loads(line)
        self.env["AIRFLOW_CONN_SALESFORCE_DEFAULT"] = salesforce_connection(self.emulator_info)
        print(f"salesforce: emulator at {self.emulator_info['instance_url']} ({self.contacts} contacts)")

    # -- Airflow and the warehouse schema ----------------------------------------------------------
    def run(self, args: list[str], *, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.env}
        result = subprocess.run(
            args, env=env, cwd=REPO, text=True,
            stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None,
        )
        if check and result.returncode != 0:
            tail = (result.stdout or "")[-2000:] if quiet else ""
            raise StackError(f"{' '.join(args[:4])} failed with exit code {result.returncode}\n{tail}")
        return result

    def migrate_airflow(self) -> None:
        stamp = self.airflow_home / ".db-migrated"
        if stamp.exists():
            return
        started = time.monotonic()
        self.run([sys.executable, "-m", "airflow", "db", "migrate"], quiet=True)
        stamp.touch()
        print(f"airflow: metadata DB migrated in {time.monotonic() - started:.0f}s")

    def check_warehouse(self) -> None:
        """One line naming the setting to fix when the warehouse cannot be reached."""
        import psycopg

        from embedded_stack.connections import postgres_url_from_connection

        conn_json = {**os.environ, **self.env}.get("AIRFLOW_CONN_SALESFORCE_WAREHOUSE", "")
        url = self.env.get("SALESFORCE_ELT_WAREHOUSE_URL") or postgres_url_from_connection(conn_json)
        try:
            psycopg.connect(url, connect_timeout=5).close()
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StackError(
                f"the warehouse is unreachable ({reason}): fix AIRFLOW_CONN_SALESFORCE_WAREHOUSE "
                "or unset it to use the embedded PostgreSQL"
            ) from None

    def migrate_warehouse(self) -> None:
        # The command a user runs against their own warehouse (prints from -> to revisions).
        self.run([sys.executable, "-m", "salesforce_elt", "migrate"])

    def mutate_emulator(self, object_name: str, **counts: int) -> None:
        args = [sys.executable, "-m", "salesforce_emulator", "mutate", "--data-dir", str(self.emulator_dir),
                "--object", object_name]
        for name, value in counts.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        self.run(args, quiet=True)


def stop_leftovers(local: Path = LOCAL) -> int:
    """Stop what an interrupted command left running (`make stack-down`)."""
    pid_file = local / "emulator.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
        pid_file.unlink()
    EmbeddedPostgres(local / "warehouse" / "pgdata").stop()
    return 0
