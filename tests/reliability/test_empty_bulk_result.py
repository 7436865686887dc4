"""An incremental Bulk run whose window holds no change: the job's results are an empty body.

Whether Salesforce sends a header row for a job without rows is unverified; the emulator answers
the harder case, an empty body (wire option ``empty_bulk_body``, on in ``sf_emulator``). The run
still stages a header-only part, loads nothing, moves the high-water mark, and the table equals
the org. Real components: the emulator over HTTPS, the real Postgres, the engine's operators.
"""

from __future__ import annotations

from salesforce_emulator.wire import WireFormat
from tests.reliability.helpers import (
    assert_table_equals_emulator,
    high_water_marks,
    run_pipeline,
)


def test_an_empty_bulk_result_loads_nothing_and_moves_the_mark(empty_table, monkeypatch):
    org, url = empty_table.org, empty_table.warehouse
    # This module's org serves the plainest wire; its Bulk results take the empty body here.
    monkeypatch.setattr(org.bulk, "_wire", WireFormat(empty_bulk_body=True))
    run_pipeline("manual__empty_full", api="bulk")
    (_name, first_mark), = high_water_marks(url)
    org.reset_audit()
    # A condition no row meets: the window's job has no rows, whatever else changed lately.
    result = run_pipeline(
        "manual__empty_incremental", api="bulk", extract_kwargs={"soql_where": "LastName = 'no such name'"}
    )

    pages = [e for e in org.audit() if "/results" in e["path"]]
    assert pages and all(e["status"] == 200 for e in pages)
    assert result["total_retrieved"] == result["new_records"] == result["updated_records"] == 0
    (_name, mark), = high_water_marks(url)
    assert mark >= first_mark
    assert_table_equals_emulator(url, org)
