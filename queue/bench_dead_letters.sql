-- Benchmark data for `tether status` and `tether dlq list` at scale:
-- 10,000 dead letters, each naming one (possibly absent) event. Used by
-- scripts/bench.sh's `ops` scenario; kept here, the queue's home, because
-- it writes the jobs table directly.
INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority,
                         last_result, done_at)
SELECT 'bench-dead-' || lpad(g::text, 6, '0'), 'tether::stripe_events',
       convert_to('{"events":["evt_prefill_' || lpad(g::text, 12, '0') || '"]}', 'UTF8'),
       'Killed', 10, 10, now(), 0, jsonb_build_object('Err', 'benchmark failure'), now()
FROM generate_series(1, 10000) AS g;
