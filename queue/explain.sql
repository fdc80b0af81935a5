-- EXPLAIN of every statement on tether's hot path, with real ids from the
-- tables. Run against a database with history (scripts/bench.sh flat leaves
-- 1,000,000 stored events in tether_bench):
--   psql -h 127.0.0.1 -U postgres tether_bench -f queue/explain.sql
-- Writes run inside a transaction that is rolled back.
\set ON_ERROR_STOP on
\pset pager off
BEGIN;
SELECT array_agg(id) AS ids FROM (SELECT id FROM received_events ORDER BY random() LIMIT 32) s \gset

\echo '== ingest: store a batch (a repeat id is skipped)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
INSERT INTO received_events (id, type, api_version, created, livemode, account, body)
SELECT id, 'customer.updated', NULL, now(), false, NULL, '{}'
FROM unnest(:'ids'::text[] || ARRAY['evt_explain_new']) AS id
ON CONFLICT (id) DO NOTHING RETURNING id;

\echo '== worker: claim runnable jobs'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
SELECT id FROM apalis.jobs
WHERE job_type = 'tether::stripe_events'
  AND (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts))
  AND run_at <= now()
ORDER BY priority DESC, run_at ASC
LIMIT 8 FOR UPDATE SKIP LOCKED;

\echo '== worker: load a job''s events'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
SELECT id, type, extract(epoch FROM created)::int8, body
FROM received_events WHERE id = ANY(:'ids'::text[]);

\echo '== worker: mark processed, returning the marks made (the rest are duplicates)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
INSERT INTO processed_events (id) SELECT unnest(:'ids'::text[]) ON CONFLICT (id) DO NOTHING
RETURNING id;

\echo '== worker: customer upsert (version-guarded)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
INSERT INTO end_customers AS c (stripe_customer_id, email, last_event_id, last_event_created, last_event_rank)
SELECT stripe_customer_id, 'x@example.com', 'evt_explain', now(), 1
FROM end_customers ORDER BY random() LIMIT 32
ON CONFLICT (stripe_customer_id) DO UPDATE SET email = EXCLUDED.email
WHERE (c.last_event_created, c.last_event_rank, c.last_event_id COLLATE "C")
    < (EXCLUDED.last_event_created, EXCLUDED.last_event_rank, EXCLUDED.last_event_id COLLATE "C");

\echo '== worker: outcome rows'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
INSERT INTO webhook_logs (event_type, event_id, status, attempt)
SELECT 'customer.updated', id, 'success', 1 FROM unnest(:'ids'::text[]) AS id;

\echo '== worker: finish a job'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
DELETE FROM apalis.jobs WHERE id = (SELECT id FROM apalis.jobs LIMIT 1);

\echo '== worker heartbeat: orphaned jobs'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
UPDATE apalis.jobs j SET status = 'Pending', lock_by = NULL, lock_at = NULL
WHERE j.job_type = 'tether::stripe_events' AND j.status IN ('Running', 'Queued')
  AND ((j.lock_by = 'me' AND NOT (j.id = ANY('{}'::text[])))
       OR j.lock_by IN (SELECT w.id FROM apalis.workers w
                        WHERE w.worker_type = 'tether::stripe_events' AND w.id <> 'me'
                          AND w.last_seen < now() - interval '60 seconds'));

\echo '== worker metrics: queue gauges, every 5 s (queue/src/gauges.rs)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
SELECT c.pending, c.retries, c.dead,
    (SELECT extract(epoch FROM now() - run_at)::float8 FROM apalis.jobs
      WHERE job_type = 'tether::stripe_events' AND status = 'Pending' AND run_at <= now()
      ORDER BY priority DESC, run_at ASC LIMIT 1),
    (SELECT count(*) FROM apalis.workers
      WHERE worker_type = 'tether::stripe_events' AND last_seen > now() - interval '60 seconds')
  FROM (SELECT count(*) FILTER (WHERE status = 'Pending') AS pending,
               count(*) FILTER (WHERE status = 'Failed' AND attempts < max_attempts) AS retries,
               count(*) FILTER (WHERE status = 'Killed') AS dead
        FROM apalis.jobs WHERE job_type = 'tether::stripe_events') AS c;

\echo '== an event''s outcomes (dlq show, bench --verify)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
SELECT status FROM webhook_logs WHERE event_id = (:'ids'::text[])[1];
ROLLBACK;
