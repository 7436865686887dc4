-- Merge one staged batch into its target table, set-based (psycopg.sql placeholders).
-- Placeholders in <angle brackets> are filled with psycopg.sql identifiers by salesforce_elt.engine.load.
--   <target>        the synced table            <staging>  the temp table the typed CSV was COPYed into
--   <key>           the key column (salesforce_id)           <cursor> the SystemModstamp column
--   <columns>       every data column, COPY order            <updates> "col = EXCLUDED.col" for all but the key
--   <target_row>, <excluded_row>   ROW(...) of the data columns, to skip rows that did not change
--   <deleted_at>    keeps sf_deleted_at while the row stays deleted, clears it on undelete (or nothing)
--   <deleted_flag>  the is_deleted column of the written row (or false)
-- Result: one row (new, updated, deleted). An existing row rewritten as deleted counts as deleted,
-- not updated; a row first seen already deleted counts as new.
WITH batch AS (
    -- One record can appear twice in a batch (lookback overlap, re-read pages): the newest wins.
    SELECT DISTINCT ON ({key}) {columns}
    FROM {staging}
    ORDER BY {key}, {cursor} DESC
),
written AS (
    INSERT INTO {target} AS target ({columns}, sync_run_id, synced_at)
    SELECT {columns}, %(sync_run_id)s, now()
    FROM batch
    ON CONFLICT ({key}) DO UPDATE
    SET {updates},
        sync_run_id = EXCLUDED.sync_run_id,
        synced_at = EXCLUDED.synced_at{deleted_at}
    -- An older version never overwrites a newer one; an unchanged row is not rewritten, so a
    -- re-run of the same window changes nothing (not even sync_run_id).
    WHERE target.{cursor} <= EXCLUDED.{cursor}
      AND {target_row} IS DISTINCT FROM {excluded_row}
    RETURNING (xmax = 0) AS inserted, {deleted_flag} AS deleted
)
SELECT count(*) FILTER (WHERE inserted),
       count(*) FILTER (WHERE NOT inserted AND NOT deleted),
       count(*) FILTER (WHERE NOT inserted AND deleted)
FROM written
