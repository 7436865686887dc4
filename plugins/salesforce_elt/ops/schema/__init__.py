"""Schema tools: describe -> docs, drift against the registry, adopting new fields, storage sizes.

What other parts of the package call:
- ``compare(spec, describe_json) -> Drift`` (the extract operator's drift guard, the audit DAG);
- ``storage_report(conn, record_counts) -> list[dict]`` (the audit DAG's storage task).
The command line is ``python -m salesforce_elt schema ...`` and ``python -m salesforce_elt storage``.
"""

from __future__ import annotations

from salesforce_elt.ops.schema.diff import Drift, FieldChange, compare
from salesforce_elt.ops.schema.storage import storage_report

__all__ = ["Drift", "FieldChange", "compare", "storage_report"]
