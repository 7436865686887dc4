-- Every live activity of every contact, one row per (contact, activity): contacts reached through
-- the activity's WhoId or through a TaskWhoRelation (Shared Activities: up to 50 contacts per
-- task). Created by migration 0002_objects; {schema} is the quoted warehouse schema. Migration
-- 0006_event_who_relations replaces it with v_contact_activities_0006.sql (EventWhoRelation too);
-- this file stays as 0002 created it, so upgrading a new database step by step still works.
-- Joins, never foreign keys: a contact not synced yet still shows its activities (contact_*
-- columns null), and the tables load independently. Leads (WhoId prefix 00Q) are left out;
-- deleted activities and removed relations are too, archived activities stay (is_archived).
CREATE VIEW {schema}.v_contact_activities AS
WITH links AS (
    SELECT a.who_id AS contact_id, a.salesforce_id AS activity_id, 'who' AS linked_through
    FROM {schema}.sf_activities AS a
    WHERE left(a.who_id, 3) = '003'
    UNION ALL
    SELECT r.relation_id, r.task_id, 'relation'
    FROM {schema}.sf_task_who_relations AS r
    JOIN {schema}.sf_activities AS a ON a.salesforce_id = r.task_id
    WHERE NOT r.is_deleted
      AND left(r.relation_id, 3) = '003'
      AND r.relation_id IS DISTINCT FROM a.who_id  -- the WhoId has a relation row too: count it once
)
SELECT l.contact_id,
       c.name AS contact_name,
       c.email AS contact_email,
       c.account_id AS contact_account_id,
       c.is_deleted AS contact_is_deleted,
       l.linked_through,
       a.salesforce_id AS activity_id,
       a.activity_kind,
       a.activity_type,
       a.subject,
       a.status,
       a.activity_date,
       a.start_date_time,
       a.end_date_time,
       a.duration_seconds,
       a.is_closed,
       a.is_archived,
       a.owner_id,
       a.what_id,
       a.account_id,
       a.sf_system_modstamp
FROM links AS l
JOIN {schema}.sf_activities AS a ON a.salesforce_id = l.activity_id
LEFT JOIN {schema}.sf_contacts AS c ON c.salesforce_id = l.contact_id
WHERE NOT a.is_deleted
