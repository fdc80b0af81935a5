-- Which tables hold synced rows, read from the schema itself: the grants of
-- deploy/roles.sql and the policies of migrations/optional/read_own_rows.sql
-- follow from it, so a new kind's migration needs no line in either.
--
-- A table with the version guard's `last_event_id` column is a kind's
-- table. A table whose rows hang off one (a foreign key to it with ON
-- DELETE CASCADE) is a list the worker replaces as a set. `customer_column`
-- names the column linking a row to `end_customers`, directly or, for a
-- list, through its parent's.
CREATE FUNCTION tether_synced_tables(target_schema text)
RETURNS TABLE (name text, replaced_as_set boolean, parent text, parent_column text,
               customer_column text)
LANGUAGE sql STABLE
SET search_path = pg_catalog
AS $$
    WITH tables AS (
        SELECT c.oid, c.relname::text AS name,
               EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid
                       AND a.attname = 'last_event_id' AND NOT a.attisdropped) AS versioned
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = target_schema AND c.relkind = 'r'
    ),
    customer_links AS (
        SELECT k.conrelid AS oid, a.attname::text AS column_name
        FROM pg_constraint k
        JOIN pg_class p ON p.oid = k.confrelid AND p.relname = 'end_customers'
        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
        WHERE k.contype = 'f' AND cardinality(k.conkey) = 1 AND p.relnamespace = k.connamespace
    )
    SELECT t.name, false, NULL, NULL, l.column_name
    FROM tables t LEFT JOIN customer_links l ON l.oid = t.oid
    WHERE t.versioned
    UNION ALL
    SELECT t.name, true, p.name, a.attname::text, pl.column_name
    FROM tables t
    JOIN pg_constraint k ON k.conrelid = t.oid AND k.contype = 'f' AND k.confdeltype = 'c'
                         AND cardinality(k.conkey) = 1
    JOIN tables p ON p.oid = k.confrelid AND p.versioned
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.conkey[1]
    LEFT JOIN customer_links pl ON pl.oid = p.oid
    WHERE NOT t.versioned
$$;
-- Only the owner (and the scripts it runs) needs it.
REVOKE ALL ON FUNCTION tether_synced_tables(text) FROM PUBLIC;
