"""The first task of every sync DAG: refuse bad trigger params and broken connections before any work."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from salesforce_elt import settings


class SyncPreflightOperator(BaseOperator):
    """Validate the run's params, then check Salesforce and the warehouse (salesforce_elt.ops.preflight).

    Invalid params (end before start, a window in the future, end without start) fail the task
    at once without retries: retrying cannot fix them. A connection problem fails it normally
    (retries cover a blip); a low API budget is only a warning here, the extract decides.
    """

    ui_color = "#eeeeee"

    def __init__(
        self,
        *,
        objects: Sequence[str],
        salesforce_conn_id: str = settings.SALESFORCE_CONN_ID,
        warehouse_conn_id: str = settings.WAREHOUSE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.objects = list(objects)
        self.salesforce_conn_id = salesforce_conn_id
        self.warehouse_conn_id = warehouse_conn_id

    def execute(self, context: Any) -> list[str]:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        from salesforce_elt.engine.registry import get_object
        from salesforce_elt.engine.windows import compute_window
        from salesforce_elt.ops import preflight

        for name in self.objects:
            try:
                compute_window(context, get_object(name), None)
            except ValueError as exc:
                raise AirflowFailException(
                    f"Invalid trigger parameters: {exc}. Trigger again with a valid start/end "
                    "(ISO 8601, UTC, start before end, neither in the future)."
                ) from None
        findings = [
            *preflight.check_salesforce(self.salesforce_conn_id, self.objects),
            *preflight.check_warehouse(self.warehouse_conn_id),
        ]
        for finding in findings:
            (self.log.info if finding.level == "ok" else self.log.warning)("%s", finding.line())
        bad = preflight.problems(findings)
        if bad:
            raise AirflowException("preflight failed: " + " | ".join(f.line() for f in bad))
        return [f.line() for f in findings]
