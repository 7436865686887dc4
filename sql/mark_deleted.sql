-- Mark records reported by the /deleted feed (recycle bin or purged) as deleted.
-- Placeholders in <angle brackets> are filled with psycopg.sql identifiers by salesforce_elt.engine.load.
--   <target> the synced table, <key> its key column, <cursor> its SystemModstamp column,
--   <deleted> the temp table (salesforce_id, deleted_at) COPYed from deleted.csv.
-- Ids we never loaded are ignored: there is no data to keep for them, and a tombstone row would
-- violate the table's NOT NULL columns. A record changed after its deletion (undeleted, so its
-- SystemModstamp is newer) is left alone. Rows already marked with the same date are not
-- rewritten, so a re-run changes nothing.
-- Result: one row, the number of rows that were live and are now deleted (a row the upsert of
-- this same load already rewrote as deleted only gets its date here, and is not counted twice).
WITH marked AS (
    UPDATE {target} AS target
    SET is_deleted = true,
        sf_deleted_at = feed.deleted_at,
        sync_run_id = %(sync_run_id)s,
        synced_at = now()
    FROM (
        SELECT DISTINCT ON (d.salesforce_id) d.salesforce_id, d.deleted_at, t.is_deleted AS was_deleted
        FROM {deleted} AS d
        JOIN {target} AS t ON t.{key} = d.salesforce_id
        ORDER BY d.salesforce_id, d.deleted_at DESC
    ) AS feed
    WHERE target.{key} = feed.salesforce_id
      AND target.{cursor} <= feed.deleted_at
      AND (target.is_deleted IS NOT TRUE OR target.sf_deleted_at IS DISTINCT FROM feed.deleted_at)
    RETURNING feed.was_deleted IS NOT TRUE AS newly_deleted
)
SELECT count(*) FILTER (WHERE newly_deleted) FROM marked
