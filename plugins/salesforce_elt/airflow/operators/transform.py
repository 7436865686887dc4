"""Raw Salesforce CSV parts -> typed CSV parts ready for COPY (see salesforce_elt.engine.transform)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from salesforce_elt import settings
from salesforce_elt.engine.contract import ExtractResult, TransformResult, TypedParts

if TYPE_CHECKING:
    from airflow.sdk import Context

    from salesforce_elt.engine.registry import SObjectSpec
    from salesforce_elt.engine.transform import Result


class SalesforceTransformOperator(BaseOperator):
    """Convert the extract task's raw CSV parts into typed parts for the load task.

    ``extract`` is the extract task's XCom (pass ``extract_task.output``). Rows that cannot be
    converted are written to ``rejects.csv`` in this attempt's staging folder; the task fails
    when their share exceeds ``reject_threshold`` (default: SALESFORCE_ELT_REJECT_THRESHOLD).
    Returns the transform result of the stage contract (salesforce_elt.engine.contract.TransformResult):
    the extract XCom plus ``typed_uri``, ``typed_files``, ``columns``, ``rows``,
    ``rejects``, ``rejects_uri``, ``cleaned`` (records whose text values lost NUL characters, which
    PostgreSQL cannot store; the load records it in ``sync_runs.records_cleaned``) and
    ``seconds.transform``. When the extract already converted its parts while downloading (its
    ``typed``, see salesforce_elt.engine.transform_stream), this task only applies the threshold
    to those rejects and passes the typed parts on; clearing it after raising the threshold needs
    no new extract.
    """

    template_fields: Sequence[str] = ("extract",)
    ui_color = "#fdf2d0"

    def __init__(self, *, extract: Any, reject_threshold: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.extract = extract
        self.reject_threshold = reject_threshold

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk import ObjectStoragePath

        from salesforce_elt.engine.registry import get_object
        from salesforce_elt.engine.staging import attempt_dir
        from salesforce_elt.engine.transform import transform_files
        from salesforce_elt.ops.drift import without_fields

        started = time.monotonic()
        extract = ExtractResult.from_json(_as_dict(self.extract, self.task_id))
        # Fields the extract's drift guard left out (gone from Salesforce) are not expected either.
        spec = without_fields(get_object(extract.object_name), extract.dropped_fields)
        threshold = settings.reject_threshold() if self.reject_threshold is None else self.reject_threshold
        if extract.typed is not None:
            from salesforce_elt.engine.transform import conversion_fingerprint

            if extract.typed.fingerprint == conversion_fingerprint(spec):
                return self._converted_while_downloading(spec, extract, extract.typed, threshold, started)
            self.log.info("%s: the registry entry changed since the extract converted its parts; "
                          "converting them again", spec.name)
            extract = replace(extract, typed=None)
        typed_dir = attempt_dir(context, spec.name) / "typed"
        result = transform_files(
            spec,
            list(extract.fields),
            ObjectStoragePath(extract.raw_uri),
            list(extract.files),
            typed_dir,
            reject_threshold=threshold,
        )
        seconds = round(time.monotonic() - started, 3)
        self.log.info(
            "%s: %d rows typed from %d raw record(s) in %d part(s), %.1f s",
            spec.name, result.rows, extract.records, len(result.typed_files), seconds,
        )
        return self._passed_on(spec, extract, result, str(typed_dir), seconds)

    def _converted_while_downloading(
        self, spec: SObjectSpec, extract: ExtractResult, typed: TypedParts, threshold: float, started: float
    ) -> dict[str, Any]:
        """The extract converted its parts as they landed: check the rejects and pass the parts on."""
        from airflow.sdk import ObjectStoragePath

        from salesforce_elt.engine.transform import Result, check_rejects, first_reasons

        result = Result(columns=list(typed.columns), typed_files=list(typed.files), rows=typed.rows,
                        rejects=typed.rejects, rejects_file=typed.rejects_uri, cleaned=typed.cleaned)
        if result.rejects and typed.rejects_uri:
            result.first_reasons = first_reasons(ObjectStoragePath(typed.rejects_uri))
        check_rejects(spec, result, threshold)
        self.log.info(
            "%s: %d rows typed from %d raw record(s) in %d part(s) by the extract while it downloaded "
            "(%.1f s of conversion)", spec.name, result.rows, extract.records, len(result.typed_files), typed.seconds,
        )
        # This task's own time: the conversion overlapped the extract, whose time includes it.
        seconds = round(time.monotonic() - started, 3)
        return self._passed_on(spec, replace(extract, typed=None), result, typed.uri, seconds)

    def _passed_on(
        self, spec: SObjectSpec, extract: ExtractResult, result: Result, typed_uri: str, seconds: float
    ) -> dict[str, Any]:
        """The XCom for the load (rejects within the threshold are logged)."""
        if result.rejects:
            self.log.warning(
                "%s: %d row(s) rejected (%.3f%%), first reasons: %s; all in %s",
                spec.name, result.rejects, 100 * result.reject_share, result.first_reasons, result.rejects_file,
            )
        return TransformResult(
            extract=replace(extract, seconds={**extract.seconds, "transform": seconds}),
            typed_uri=typed_uri,
            typed_files=tuple(result.typed_files),
            columns=tuple(result.columns),
            rows=result.rows,
            rejects=result.rejects,
            rejects_uri=result.rejects_file,
            cleaned=result.cleaned,
        ).to_json()


def _as_dict(value: object, task_id: str) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise TypeError(
        f"{task_id}: expected the upstream task's XCom dict, got {type(value).__name__} "
        "(pass the upstream operator's .output)"
    )
