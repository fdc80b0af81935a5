-- Where the database time and WAL of a bench run go, statement by
-- statement, from pg_stat_statements (which must be in
-- shared_preload_libraries, and created in the database you connect to).
-- scripts/bench.sh re-creates tether_bench for every scenario, so this
-- reads only the last scenario's statements:
--   psql -h 127.0.0.1 -p 5440 -U postgres -d postgres -f scripts/statements.sql
\pset pager off
WITH s AS (
  SELECT * FROM pg_stat_statements
  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'tether_bench')
)
SELECT calls,
       round(mean_exec_time::numeric, 3) AS mean_ms,
       round((100 * total_exec_time / sum(total_exec_time) OVER ())::numeric, 1) AS time_pct,
       round(100 * wal_bytes / nullif(sum(wal_bytes) OVER (), 0), 1) AS wal_pct,
       round(wal_bytes / calls) AS wal_per_call,
       round(100.0 * wal_fpi / nullif(sum(wal_fpi) OVER (), 0), 1) AS fpi_pct,
       rows,
       round(rows::numeric / calls, 1) AS rows_per_call,
       left(regexp_replace(query, '\s+', ' ', 'g'), 100) AS statement
FROM s
ORDER BY total_exec_time DESC
LIMIT 30;

WITH s AS (
  SELECT * FROM pg_stat_statements
  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'tether_bench')
)
SELECT sum(calls) AS calls, round(sum(total_exec_time)::numeric) AS total_ms,
       sum(wal_bytes) AS wal_bytes, sum(wal_records) AS wal_records, sum(wal_fpi) AS wal_fpi
FROM s;
