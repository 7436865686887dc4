"""The API budget guard: leave a share of the org's daily allowance to its other integrations.

Two knobs (``settings``: environment or ``[salesforce_elt]``): ``SALESFORCE_ELT_API_RESERVE`` (default 0.20: never dig into the last
20 % of DailyApiRequests or DailyBulkV2QueryJobs) and ``SALESFORCE_ELT_BUDGET_ACTION`` (``skip``,
the default: the extract task ends skipped and the next run picks the window up; ``fail``: it
fails and alerts). The check runs before each extraction (``/limits``) and after every REST page
(``Sforce-Limit-Info``), so a long extraction stops as soon as it crosses the reserve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from salesforce_elt import settings

RESERVE_ENV = settings.SETTINGS["api_reserve"].env
ACTION_ENV = settings.SETTINGS["budget_action"].env
ACTIONS = ("skip", "fail")
# /limits entries guarded, and the API they gate ("any": every extraction needs REST calls).
GUARDED_LIMITS = {"DailyApiRequests": "any", "DailyBulkV2QueryJobs": "bulk"}


class BudgetExhausted(Exception):
    """The org's remaining daily allowance is under the reserve: do not (continue to) extract."""


def api_reserve() -> float:
    """The reserve share; a ValueError names a bad value and where it came from."""
    return settings.api_reserve()


def budget_action() -> str:
    return settings.budget_action(ACTIONS)


@dataclass(frozen=True)
class Allowance:
    name: str
    maximum: int
    remaining: int

    @property
    def remaining_share(self) -> float:
        return self.remaining / self.maximum if self.maximum else 1.0

    def __str__(self) -> str:
        return f"{self.name} {self.remaining}/{self.maximum} remaining ({round(self.remaining_share * 100, 2):g}%)"


def allowances(limits: dict[str, Any], api: str = "bulk") -> list[Allowance]:
    """The guarded entries of a ``/limits`` answer that matter for ``api`` ("bulk" or "rest")."""
    found = []
    for name, needed_by in GUARDED_LIMITS.items():
        entry = limits.get(name)
        if not isinstance(entry, dict) or (needed_by != "any" and needed_by != api):
            continue
        found.append(Allowance(name, int(entry.get("Max") or 0), int(entry.get("Remaining") or 0)))
    return found


def check_limits(
    limits: dict[str, Any], reserve: float, api: str = "bulk", *, what: str = "extract"
) -> list[Allowance]:
    """Raise BudgetExhausted when a guarded allowance is under ``reserve``; else return them all."""
    found = allowances(limits, api)
    for allowance in found:
        if allowance.remaining_share < reserve:
            raise BudgetExhausted(
                f"not starting to {what}: Salesforce {allowance} is under the reserve of {reserve * 100:g}% "
                f"kept for the org's other integrations ({RESERVE_ENV}); the window stays pending "
                "and the next run picks it up"
            )
    return found


def usage_allowance(usage: str | None) -> Allowance | None:
    """``"used/max"`` (from Sforce-Limit-Info) as an Allowance of DailyApiRequests."""
    if not usage or "/" not in usage:
        return None
    used, maximum = (int(part) for part in usage.split("/", 1))
    return Allowance("DailyApiRequests", maximum, max(maximum - used, 0))


def check_usage(usage: str | None, reserve: float, *, what: str) -> None:
    """Raise BudgetExhausted when the latest Sforce-Limit-Info usage crossed into the reserve."""
    allowance = usage_allowance(usage)
    if allowance is not None and allowance.remaining_share < reserve:
        raise BudgetExhausted(
            f"stopped {what}: Salesforce {allowance} crossed the reserve of {reserve * 100:g}% kept for "
            f"the org's other integrations ({RESERVE_ENV}); nothing is loaded and the next run "
            "extracts the whole window again"
        )
