"""`make airflow`: the embedded stack plus `airflow standalone`; Ctrl-C stops everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from embedded_stack.stack import Stack


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (e.g. `timeout`, a process manager) stops as cleanly as Ctrl-C


def run_standalone() -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    with Stack() as stack:
        stack.migrate_airflow()
        stack.migrate_warehouse()
        bin_dir = str(Path(sys.executable).parent)
        # `airflow standalone` spawns `airflow` by name: the venv's bin must lead PATH.
        env = {
            **os.environ,
            **stack.env,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            # The local stack is for trying the DAGs: schedule them as soon as they are parsed.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # The connection list's Test button (off by default in Airflow).
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        }
        _store_salesforce_connection(env)
        process = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=env, start_new_session=True)
        passwords = stack.airflow_home / "simple_auth_manager_passwords.json.generated"
        try:
            _print_login_when_ready(process, passwords)
            return process.wait()
        except KeyboardInterrupt:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            return 0


def _store_salesforce_connection(env: dict[str, str]) -> None:
    """Move the emulated org's connection from the environment into Airflow's database.

    The UI lists (and its Test button tests) only stored connections; an environment variable of the
    same id would shadow the stored one, so it leaves the environment of the Airflow processes.
    """
    conn_json = env.pop("AIRFLOW_CONN_SALESFORCE_DEFAULT", None)
    if not conn_json:
        return
    airflow = [sys.executable, "-m", "airflow", "connections"]
    subprocess.run([*airflow, "delete", "salesforce_default"], env=env, capture_output=True, check=False)
    result = subprocess.run(
        [*airflow, "add", "salesforce_default", "--conn-json", conn_json], env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        env["AIRFLOW_CONN_SALESFORCE_DEFAULT"] = conn_json  # the DAGs still work; only the UI list lacks it
        print(f"airflow: could not store salesforce_default in the metadata DB: {result.stderr.strip()[-300:]}")


def _print_login_when_ready(process: subprocess.Popen, passwords: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if passwords.exists() and passwords.stat().st_size:
            for user, password in json.loads(passwords.read_text()).items():
                print(f"\nAirflow UI: http://localhost:8080  login: {user} / {password}  (Ctrl-C stops everything)\n")
            return
        time.sleep(1)
