-- Least-privilege roles for tether's long-running processes.
--
--   tether_ingest  stores verified events and their queue jobs: it can
--                  insert events, jobs and rejected deliveries, and read back
--                  only an event's id and body (to answer a redelivery as a
--                  duplicate and notice one whose body changed). It cannot
--                  update or delete anything, nor read the synced tables.
--   tether_worker  claims jobs, applies events to the synced tables and logs
--                  each outcome. It cannot delete events or logs, nor touch
--                  rejected deliveries, sign-ups or settings.
--
-- Run it as the tables' owner (the role `tether migrate` ran as), after
-- every `tether migrate`: it is idempotent, and a new table needs its grant.
--
--   psql "$OWNER_DATABASE_URL" -v ON_ERROR_STOP=1 -f deploy/roles.sql
--
-- Variables (psql -v NAME=VALUE), all optional:
--   schema           tether's schema, as TETHER_SCHEMA (default public)
--   ingest_password  login password of tether_ingest; else read from the
--   worker_password  environment variables TETHER_INGEST_DB_PASSWORD and
--                    TETHER_WORKER_DB_PASSWORD; else the password is left
--                    as it is (none for a new role: set one, or use
--                    certificate or peer authentication).
--
-- Every tether table has row-level security on with no policy (see
-- migrations/20261122000007_private_by_default.sql), so each grant on such a
-- table comes with a policy that lets this role see the rows its grants
-- allow. Features that need more (the admin API, Supabase sign-ups,
-- TETHER_RETENTION, the operator commands) are listed with their exact
-- grants in docs/operations.md, "Database roles".

\if :{?schema}
\else
  \set schema public
\endif
\if :{?ingest_password}
\else
  \getenv ingest_password TETHER_INGEST_DB_PASSWORD
\endif
\if :{?worker_password}
\else
  \getenv worker_password TETHER_WORKER_DB_PASSWORD
\endif

BEGIN;

SELECT format('CREATE ROLE %I LOGIN', name)
FROM unnest(ARRAY['tether_ingest', 'tether_worker']) AS name
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name)
\gexec

\if :{?ingest_password}
  ALTER ROLE tether_ingest PASSWORD :'ingest_password';
\endif
\if :{?worker_password}
  ALTER ROLE tether_worker PASSWORD :'worker_password';
\endif

-- Start from nothing, so a grant removed here is removed in the database too.
REVOKE ALL ON ALL TABLES IN SCHEMA :"schema" FROM tether_ingest, tether_worker;
REVOKE ALL ON ALL TABLES IN SCHEMA apalis FROM tether_ingest, tether_worker;
GRANT USAGE ON SCHEMA :"schema", apalis TO tether_ingest, tether_worker;

-- ingest ---------------------------------------------------------------------
GRANT INSERT (id, type, api_version, created, livemode, account, payload),
      SELECT (id, payload)
  ON :"schema".stripe_events TO tether_ingest;
GRANT INSERT (event_id, event_type, reason, body_excerpt, body_bytes)
  ON :"schema".rejected_deliveries TO tether_ingest;
GRANT INSERT (id, job_type, job, status, attempts, max_attempts, run_at, priority)
  ON apalis.jobs TO tether_ingest;

-- worker ---------------------------------------------------------------------
GRANT SELECT, UPDATE (processed_at) ON :"schema".stripe_events TO tether_worker;
GRANT SELECT, INSERT, UPDATE
  ON :"schema".end_customers, :"schema".payments, :"schema".subscriptions,
     :"schema".products, :"schema".prices, :"schema".checkout_sessions,
     :"schema".users
  TO tether_worker;
GRANT INSERT ON :"schema".webhook_logs TO tether_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON apalis.jobs TO tether_worker;
-- Heartbeats; a worker never deletes another's row.
GRANT SELECT, INSERT, UPDATE ON apalis.workers TO tether_worker;

-- Row-level security: each role sees all rows of the tables it was granted;
-- the grants above decide what it may do with them.
DROP POLICY IF EXISTS tether_ingest_rows ON :"schema".stripe_events;
CREATE POLICY tether_ingest_rows ON :"schema".stripe_events TO tether_ingest USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS tether_ingest_rows ON :"schema".rejected_deliveries;
CREATE POLICY tether_ingest_rows ON :"schema".rejected_deliveries TO tether_ingest USING (true) WITH CHECK (true);

SELECT format('DROP POLICY IF EXISTS tether_worker_rows ON %1$I.%2$I; '
              'CREATE POLICY tether_worker_rows ON %1$I.%2$I TO tether_worker USING (true) WITH CHECK (true)',
              :'schema', name)
FROM unnest(ARRAY['stripe_events', 'end_customers', 'payments', 'subscriptions', 'products',
                  'prices', 'checkout_sessions', 'users', 'webhook_logs']) AS name
\gexec

COMMIT;
