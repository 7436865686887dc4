"""Shared pieces of the operating tests (monitoring, budget, alerts, preflight, assets).

Each of those modules has its own emulated org and migrated warehouse database (the ``org``,
``warehouse_db`` and ``sync_env`` fixtures of tests/conftest.py), because they change the org
(faults, limits, mutations) and read monitoring tables row for row. DAG runs:
tests.support.dags.
"""

from __future__ import annotations

import psycopg

from tests.support.databases import fresh_database as fresh_database


def rows(url: str, query: str, params: tuple | dict = ()) -> list[dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]
