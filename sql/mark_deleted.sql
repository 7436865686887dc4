-- Mark records reported by the /deleted feed (recycle bin or purged) as deleted.
-- Placeholders in <angle brackets> are filled with psycopg.sql identifiers by salesforce_elt.load.
--   <target> the synced table, <key> its key column, <cursor> its SystemModstamp column,
--   <deleted> the temp table (salesforce_id, deleted_at) COPYed from deleted.csv.
-- Ids we never loaded are ignored: there is no data to keep for them, and a tombstone row would
-- violate the table's NOT NULL columns. A record changed after its deletion (undeleted, so its
-- SystemModstamp is newer) is left alone. Rows already marked with the same date are not
-- rewritten, so a re-run changes nothing.
UPDATE {target} AS target
SET is_deleted = true,
    sf_deleted_at = deleted.deleted_at,
    sync_run_id = %(sync_run_id)s,
    synced_at = now()
FROM (
    SELECT DISTINCT ON (salesforce_id) salesforce_id, deleted_at
    FROM {deleted}
    ORDER BY salesforce_id, deleted_at DESC
) AS deleted
WHERE target.{key} = deleted.salesforce_id
  AND target.{cursor} <= deleted.deleted_at
  AND (target.is_deleted IS NOT TRUE OR target.sf_deleted_at IS DISTINCT FROM deleted.deleted_at)
