"""A real PostgreSQL 16 server from the `pgserver` wheel, listening on 127.0.0.1 over TCP.

pgserver's own `get_server()` listens on a unix socket only and stops the server when the last
Python handle exits; the stack needs a TCP port (Airflow connections, restarts in reliability
tests, tools such as psql) and an explicit lifecycle, so this drives the wheel's bundled
`initdb` / `pg_ctl` directly and reuses its helpers for running as root.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
DATABASE = "warehouse"


class PostgresStartError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin(name: str) -> str:
    from pgserver._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _system_user() -> str | None:
    """Postgres refuses to run as root: as root, run it as pgserver's unprivileged user."""
    if os.geteuid() != 0:
        return None
    import stat

    from pgserver._commands import POSTGRES_BIN_PATH
    from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists("pgserver")
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read_exec = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read_exec)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    return "pgserver"


@dataclass
class EmbeddedPostgres:
    """One data directory, one server. `start()` is idempotent; `stop()` is clean (pg_ctl -m fast)."""

    data_dir: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def _run(self, args: list[str], user: str | None, timeout: float = 60) -> None:
        # cwd: the unprivileged user must be able to enter it (pg_ctl checks its working directory).
        result = subprocess.run(
            args, user=user, capture_output=True, text=True, timeout=timeout, cwd=self.data_dir.parent
        )
        if result.returncode != 0:
            raise PostgresStartError(
                f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
                f" — see {self.log_file}"
            )

    def _initdb(self, user: str | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user:
            import shutil

            from pgserver.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)
            shutil.chown(self.data_dir, user, user)
            self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                [_bin("initdb"), "-D", str(self.data_dir), "--auth=trust", "--encoding=UTF8",
                 "--locale=C", "-U", SUPERUSER],
                user,
            )

    def is_running(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        lines = pid_file.read_text().splitlines()
        try:
            os.kill(int(lines[0]), 0)
        except (ProcessLookupError, ValueError, IndexError):
            return False
        except PermissionError:
            pass
        if len(lines) > 3 and lines[3].strip().isdigit():
            self.port = int(lines[3])
        return True

    def start(self) -> EmbeddedPostgres:
        if self.is_running():
            return self
        user = _system_user()
        self._initdb(user)
        self.port = self.port or free_port()
        self.log_file.touch()
        if user:
            import shutil

            shutil.chown(self.log_file, user, user)
        # Sockets stay in the data dir (never /tmp clashes); fsync off: a dev/test warehouse
        # trades crash durability for speed, which a real deployment's Postgres does not.
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200 -c shared_buffers=256MB -c max_wal_size=2GB"
        )
        self._run(
            [_bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-o", options, "-w",
             "-t", "60", "start"],
            user,
            timeout=90,
        )
        self._ensure_database()
        return self

    def _ensure_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(
                    f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres", autocommit=True
                ) as conn:
                    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
                        conn.execute(f'CREATE DATABASE "{DATABASE}"')
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self, mode: str = "fast") -> None:
        if not self.is_running():
            return
        self._run([_bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"], _system_user())

    def restart(self) -> None:
        port = self.port
        self.stop()
        self.port = port
        self.start()
