"""The budget guard's arithmetic and settings (salesforce_elt.ops.budget)."""

from __future__ import annotations

import pytest

from salesforce_elt.ops import budget

LIMITS = {
    "DailyApiRequests": {"Max": 15000, "Remaining": 3100},
    "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 1500},
    "DataStorageMB": {"Max": 5, "Remaining": 0},  # not guarded
}


def test_allowances_keep_bulk_jobs_out_of_rest_extractions():
    assert [a.name for a in budget.allowances(LIMITS, "bulk")] == ["DailyApiRequests", "DailyBulkV2QueryJobs"]
    assert [a.name for a in budget.allowances(LIMITS, "rest")] == ["DailyApiRequests"]


def test_check_limits_passes_above_the_reserve_and_names_the_allowance_below_it():
    assert len(budget.check_limits(LIMITS, 0.20, "rest")) == 1  # 20.7 % of API requests left
    with pytest.raises(budget.BudgetExhausted, match=r"DailyBulkV2QueryJobs 1500/10000 remaining \(15%\)"):
        budget.check_limits(LIMITS, 0.20, "bulk")
    with pytest.raises(budget.BudgetExhausted, match=r"reserve of 25%.*SALESFORCE_ELT_API_RESERVE"):
        budget.check_limits(LIMITS, 0.25, "rest")


def test_check_usage_reads_sforce_limit_info():
    budget.check_usage("11999/15000", 0.20, what="paging")  # 3001 left: 20.01 %
    with pytest.raises(
        budget.BudgetExhausted, match=r"stopped paging: Salesforce DailyApiRequests 2999/15000"
    ):
        budget.check_usage("12001/15000", 0.20, what="paging")
    budget.check_usage(None, 0.99, what="paging")  # no header yet: nothing to decide on


def test_settings_have_safe_defaults_and_refuse_nonsense(monkeypatch):
    monkeypatch.delenv(budget.RESERVE_ENV, raising=False)
    monkeypatch.delenv(budget.ACTION_ENV, raising=False)
    assert (budget.api_reserve(), budget.budget_action()) == (0.20, "skip")
    monkeypatch.setenv(budget.RESERVE_ENV, "20%")
    with pytest.raises(ValueError, match="SALESFORCE_ELT_API_RESERVE='20%' is not a number"):
        budget.api_reserve()
    monkeypatch.setenv(budget.RESERVE_ENV, "1.5")
    with pytest.raises(ValueError, match=r"must be a share in \[0, 1\)"):
        budget.api_reserve()
    monkeypatch.setenv(budget.ACTION_ENV, "pause")
    with pytest.raises(ValueError, match="SALESFORCE_ELT_BUDGET_ACTION='pause' must be one of skip, fail"):
        budget.budget_action()
