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
        }
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


def _print_login_when_ready(process: subprocess.Popen, passwords: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        if passwords.exists() and passwords.stat().st_size:
            for user, password in json.loads(passwords.read_text()).items():
                print(f"\nAirflow UI: http://localhost:8080  login: {user} / {password}  (Ctrl-C stops everything)\n")
            return
        time.sleep(1)
