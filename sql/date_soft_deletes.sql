-- The date of a soft delete when the /deleted feed, which would have given it, could not be read:
-- the record's SystemModstamp (the feed's deletedDate comes from it: SOAP API GetDeletedResult).
-- Placeholders in <angle brackets> are filled with psycopg.sql identifiers by salesforce_elt.engine.load.
--   <target> the synced table, <key> its key column, <cursor> its SystemModstamp column,
--   <ids> the temp table of the object's current Ids (key, is_deleted) read instead of the feed.
-- Only rows this load wrote as deleted and left undated, and that the Id list reports deleted too:
-- exactly the window's soft deletes the feed would have dated. Result: the number of rows dated.
WITH dated AS (
    UPDATE {target} AS target
    SET sf_deleted_at = target.{cursor}
    WHERE target.sync_run_id = %(sync_run_id)s
      AND target.is_deleted
      AND target.sf_deleted_at IS NULL
      AND EXISTS (SELECT 1 FROM {ids} AS i WHERE i.{key} = target.{key} AND i.is_deleted)
    RETURNING 1
)
SELECT count(*) FROM dated
