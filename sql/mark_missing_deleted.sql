-- After a full refresh read through queryAll (every record, deleted ones included): a live row
-- the refresh did not return was purged from Salesforce longer ago than the /deleted feed
-- remembers (15 days). Mark it deleted; the deletion time is unknown, so sf_deleted_at gets the
-- refresh's window end, the latest it can have happened.
-- Placeholders in <angle brackets> are filled with psycopg.sql identifiers by salesforce_elt.engine.load.
--   <target> the synced table, <key> its key column, <cursor> its SystemModstamp column,
--   <staging> the temp table holding this refresh's rows.
-- Only rows of this object (key prefix) and older than the refresh are considered, so another
-- object sharing the table, or a row written after the refresh began, is never touched.
WITH marked AS (
    UPDATE {target} AS target
    SET is_deleted = true,
        sf_deleted_at = %(window_end)s,
        sync_run_id = %(sync_run_id)s,
        synced_at = now()
    WHERE NOT target.is_deleted
      AND left(target.{key}, 3) = %(key_prefix)s
      AND target.{cursor} < %(window_end)s
      AND NOT EXISTS (SELECT 1 FROM {staging} AS s WHERE s.{key} = target.{key})
    RETURNING 1
)
SELECT count(*) FROM marked
