-- Health of one synced table, logged after each load: <target> the table, <cursor> its
-- Placeholders in <angle brackets> are filled with psycopg.sql identifiers by salesforce_elt.engine.load.
-- SystemModstamp column, <is_deleted> its is_deleted column (or false for objects never deleted).
SELECT count(*) AS total_rows,
       count(*) FILTER (WHERE {is_deleted}) AS deleted_rows,
       max({cursor}) AS max_system_modstamp,
       max(synced_at) AS last_synced_at
FROM {target}
