-- Relations removed in Salesforce (TaskWhoRelation: no queryAll, no /deleted feed). The batch
-- re-read the full relation set of every parent (task) in <parents>; a live row of such a parent
-- that the batch lacks was removed (or its task deleted): mark it deleted. The removal time is
-- unknown, so sf_deleted_at gets the window end, the latest it can have happened.
-- Placeholders in <angle brackets> are filled with psycopg.sql identifiers by salesforce_elt.engine.load.
--   <target> the relations table, <key> its key column, <cursor> its SystemModstamp column,
--   <parent> the column naming the parent (task_id), <parents> the temp table of re-read
--   parent ids, <staging> the temp table holding the re-read relations.
-- A row written after the re-read (newer SystemModstamp than the window end) is never touched,
-- and rows already marked are not rewritten, so a re-run changes nothing.
WITH marked AS (
    UPDATE {target} AS target
    SET is_deleted = true,
        sf_deleted_at = %(window_end)s,
        sync_run_id = %(sync_run_id)s,
        synced_at = now()
    WHERE NOT target.is_deleted
      AND target.{cursor} < %(window_end)s
      AND target.{parent} IN (SELECT p.parent_id FROM {parents} AS p)
      AND NOT EXISTS (SELECT 1 FROM {staging} AS s WHERE s.{key} = target.{key})
    RETURNING 1
)
SELECT count(*) FROM marked
