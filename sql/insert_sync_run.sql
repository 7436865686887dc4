-- One monitoring row per load attempt (success or failure) in <sync_runs>.
-- Placeholders in <angle brackets> are filled with psycopg.sql identifiers by salesforce_elt.engine.load.
INSERT INTO {sync_runs} (
    dag_id, run_id, object_name, window_start, window_end, api, job_ids,
    rows_extracted, rows_rejected, records_cleaned, new_records, updated_records, deleted_records,
    seconds_extract, seconds_transform, seconds_load, api_calls, api_usage_before, api_usage_after,
    status, error_message, deletes_reconciled, started_at, finished_at
) VALUES (
    %(dag_id)s, %(run_id)s, %(object_name)s, %(window_start)s, %(window_end)s, %(api)s, %(job_ids)s,
    %(rows_extracted)s, %(rows_rejected)s, %(records_cleaned)s, %(new_records)s, %(updated_records)s, %(deleted_records)s,
    %(seconds_extract)s, %(seconds_transform)s, %(seconds_load)s, %(api_calls)s, %(api_usage_before)s,
    %(api_usage_after)s, %(status)s, %(error_message)s, %(deletes_reconciled)s, %(started_at)s, clock_timestamp()
)
RETURNING id
