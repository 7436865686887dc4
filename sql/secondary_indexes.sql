-- The plain (not unique, not primary key) indexes of one table and their definitions, as the
-- catalog holds them: a first load drops them, COPYs, and runs these definitions again.
SELECT index_class.relname AS index_name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class index_class ON index_class.oid = i.indexrelid
JOIN pg_class table_class ON table_class.oid = i.indrelid
JOIN pg_namespace n ON n.oid = table_class.relnamespace
WHERE n.nspname = %(schema)s
  AND table_class.relname = %(table)s
  AND NOT i.indisunique
  AND NOT i.indisprimary
ORDER BY index_class.relname
