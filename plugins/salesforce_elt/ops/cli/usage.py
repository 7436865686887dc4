"""`usage [--days 7] [--json]`: API calls per day and object, rows per run, failures, slowest runs,
and the remaining daily API budget (live from /limits when the Salesforce connection works, else
the last usage recorded in the warehouse)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from salesforce_elt.ops import budget
from salesforce_elt.ops.cli import CliError, conn_id_help, warehouse_conn_id_help
from salesforce_elt.ops.cli.schema import logs_to_stderr


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("usage", help="usage summary from sync_runs and api_call_log")
    parser.add_argument("--days", type=int, default=7, help="look back this many days (default 7)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--offline", action="store_true", help="do not call Salesforce's /limits")
    parser.add_argument("--conn-id", default=None, help=conn_id_help("Salesforce connection"))
    parser.add_argument("--warehouse-conn-id", default=None, help=warehouse_conn_id_help())
    parser.set_defaults(handler=_usage)


def _live_budget(conn_id: str) -> dict[str, Any] | None:
    from salesforce_elt.airflow.hooks.retry import RetryPolicy
    from salesforce_elt.airflow.hooks.salesforce import SalesforceApiHook

    try:
        hook = SalesforceApiHook(
            conn_id, retry=RetryPolicy(max_retries=1, backoff_base=0.2), timeout=(10.0, 30.0)
        )
        limits = hook.limits()
    except Exception:  # no connection, or Salesforce unreachable: the recorded usage still answers
        return None
    return {a.name: {"max": a.maximum, "remaining": a.remaining} for a in budget.allowances(limits, "bulk")}


def _budget(summary: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    reserve = budget.api_reserve()
    live = None if args.offline else _live_budget(args.conn_id)
    if live is not None:
        return {"source": "live /limits", "reserve": reserve, "limits": live}
    last = summary["last_usage"][0] if summary["last_usage"] else None
    allowance = budget.usage_allowance(last["api_usage"]) if last else None
    if last is None or allowance is None:
        return {"source": "none recorded", "reserve": reserve, "limits": {}}
    return {
        "source": f"last recorded usage ({last['at'].isoformat()})",
        "reserve": reserve,
        "limits": {allowance.name: {"max": allowance.maximum, "remaining": allowance.remaining}},
    }


def _table(title: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return f"{title}\n  (none)"
    columns = list(rows[0])
    cells = [[("" if r[c] is None else str(r[c])) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = [title, "  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _budget_text(info: dict[str, Any]) -> str:
    lines = [
        f"Remaining daily API budget ({info['source']}; reserve {info['reserve']:.0%} kept for other integrations)"
    ]
    for name, entry in info["limits"].items():
        usable = max(entry["remaining"] - round(entry["max"] * info["reserve"]), 0)
        lines.append(f"  {name}: {entry['remaining']}/{entry['max']} remaining, {usable} usable by the sync")
    if not info["limits"]:
        lines.append("  (no usage recorded yet and Salesforce not reachable)")
    return "\n".join(lines)


def _usage(args: argparse.Namespace) -> int:
    import psycopg

    from salesforce_elt.engine import warehouse
    from salesforce_elt.ops import monitoring

    if args.days < 1:
        raise CliError(f"--days must be at least 1, got {args.days}")
    with logs_to_stderr():
        try:
            with warehouse.connect(args.warehouse_conn_id, connect_timeout=10) as conn:
                summary = monitoring.usage_summary(conn, args.days)
        except psycopg.errors.UndefinedTable as exc:
            raise CliError(
                f"monitoring tables missing ({exc.diag.message_primary}): run `alembic upgrade head`"
            ) from None
        except psycopg.Error as exc:
            raise CliError(f"warehouse unreachable: {str(exc).strip().splitlines()[0]}") from None
        summary["budget"] = _budget(summary, args)
    if args.json:
        print(json.dumps(summary, default=str, indent=2))
        return 0
    print(
        "\n\n".join(
            [
                _table(f"API calls per day and object (last {args.days} days)", summary["calls_per_day"]),
                _table("Runs per object", summary["runs"]),
                _table("Failures and skips (newest first)", summary["failures"]),
                _table("Slowest successful runs", summary["slowest_runs"]),
                _budget_text(summary["budget"]),
            ]
        )
    )
    return 0
