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
-- (psql 15 or later, for \getenv.)
--
-- Variables (psql -v NAME=VALUE), all optional:
--   schema           tether's schema, as TETHER_SCHEMA (default public)
--   ingest_password  login password of tether_ingest; else read from the
--   worker_password  environment variables TETHER_INGEST_DB_PASSWORD and
--                    TETHER_WORKER_DB_PASSWORD; else the password is left
--                    as it is (none for a new role: set one, or use
--                    certificate or peer authentication). The password
--                    travels in an ALTER ROLE statement: run this with
--                    log_statement below 'ddl', or PostgreSQL logs it.
--
-- Every tether table has row-level security on with no policy (see
-- migrations/20261122000007_private_by_default.sql), so each grant on such a
-- table comes with a policy that lets this role see the rows its grants
-- allow. TETHER_RETENTION, the Supabase webhook, sign-ups on workers and
-- the operator commands (also the admin API) have roles of their own at
-- the end; docs/operations.md, "Database roles", says how to use them.

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
-- No NOTICE for each policy that does not exist yet.
SET LOCAL client_min_messages = warning;

-- The synced tables, read from the schema itself (see
-- migrations/20261122000018_synced_tables.sql), so that a new kind's
-- migration needs no line here.
CREATE TEMP TABLE tether_synced ON COMMIT DROP AS
SELECT name, replaced_as_set FROM :"schema".tether_synced_tables(:'schema');

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

-- Grants only add: the extra grants of docs/operations.md survive a rerun.
GRANT USAGE ON SCHEMA :"schema", apalis TO tether_ingest, tether_worker;

-- ingest ---------------------------------------------------------------------
GRANT INSERT (id, type, api_version, created, livemode, account, object_id, body),
      SELECT (id, body)
  ON :"schema".received_events TO tether_ingest;
GRANT INSERT (event_id, event_type, reason, body_excerpt, body_bytes)
  ON :"schema".rejected_deliveries TO tether_ingest;
GRANT INSERT (id, job_type, job, status, attempts, max_attempts, run_at, priority)
  ON apalis.jobs TO tether_ingest;

-- worker ---------------------------------------------------------------------
GRANT SELECT ON :"schema".received_events TO tether_worker;
GRANT SELECT, INSERT ON :"schema".processed_events TO tether_worker;
SELECT format('GRANT SELECT, INSERT, UPDATE%s ON %I.%I TO tether_worker',
              CASE WHEN replaced_as_set THEN ', DELETE' ELSE '' END, :'schema', name)
FROM tether_synced
\gexec
GRANT SELECT, INSERT, UPDATE ON :"schema".users TO tether_worker;
GRANT INSERT ON :"schema".webhook_logs TO tether_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON apalis.jobs TO tether_worker;
-- Heartbeats; a worker never deletes another's row.
GRANT SELECT, INSERT, UPDATE ON apalis.workers TO tether_worker;

-- Row-level security: each role sees all rows of the tables it was granted;
-- the grants above decide what it may do with them.
DROP POLICY IF EXISTS tether_ingest_rows ON :"schema".received_events;
CREATE POLICY tether_ingest_rows ON :"schema".received_events TO tether_ingest USING (true) WITH CHECK (true);
DROP POLICY IF EXISTS tether_ingest_rows ON :"schema".rejected_deliveries;
CREATE POLICY tether_ingest_rows ON :"schema".rejected_deliveries TO tether_ingest USING (true) WITH CHECK (true);

SELECT format('DROP POLICY IF EXISTS tether_worker_rows ON %1$I.%2$I; '
              'CREATE POLICY tether_worker_rows ON %1$I.%2$I TO tether_worker USING (true) WITH CHECK (true)',
              :'schema', name)
FROM (SELECT name FROM tether_synced
      UNION ALL
      SELECT unnest(ARRAY['received_events', 'processed_events', 'users', 'webhook_logs'])) AS tables
\gexec

-- Optional features -----------------------------------------------------------
-- Roles without login that hold a feature's extra grants. Turn a feature on
-- by granting its role to the process's role, e.g.
--   GRANT tether_retention TO tether_worker;
SELECT format('CREATE ROLE %I NOLOGIN', name)
FROM unnest(ARRAY['tether_retention', 'tether_supabase_webhook', 'tether_signups', 'tether_operator']) AS name
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name)
\gexec

-- TETHER_RETENTION on a worker (on top of tether_worker, whose reads of the
-- synced tables tell which events rows still point at).
GRANT SELECT, DELETE
  ON :"schema".received_events, :"schema".processed_events, :"schema".webhook_logs
  TO tether_retention;
-- Each prune batch locks its rows (FOR UPDATE SKIP LOCKED), which needs
-- UPDATE on some column: received_at and created_at, whose change would
-- only move a row's own retention.
GRANT UPDATE (received_at) ON :"schema".received_events TO tether_retention;
GRANT UPDATE (created_at) ON :"schema".webhook_logs TO tether_retention;
-- Prune keeps a dead sign-up's history: it reads which sign-ups are not
-- customers yet.
GRANT SELECT (id, processed_at) ON :"schema".supabase_signups TO tether_retention;
-- SUPABASE_WEBHOOK_TOKEN on ingest: the sign-up row, with ON CONFLICT
-- (kind, row_id) DO NOTHING RETURNING id, which reads those three columns
-- to tell a repeat from a new one; its job goes in through
-- apalis.tether_push_job, which runs with ingest's own apalis.jobs grant.
GRANT INSERT (kind, row_id, source, email, email_confirmed, record), SELECT (id, kind, row_id)
  ON :"schema".supabase_signups TO tether_supabase_webhook;

-- STRIPE_SECRET_KEY on a worker (on top of tether_worker): sign-ups become
-- Stripe customers, recorded on the sign-up and on tether's organizations.
-- With TETHER_ORGANIZATIONS_TABLE / TETHER_USERS_TABLE, also grant
-- SELECT (id, stripe_customer_id), UPDATE (stripe_customer_id) on those.
GRANT SELECT, UPDATE (stripe_customer_id, processed_at) ON :"schema".supabase_signups TO tether_signups;
GRANT SELECT, UPDATE (stripe_customer_id) ON :"schema".organizations TO tether_signups;

-- The operator commands `status`, `dlq`, `replay`, `prune` and `rejected`,
-- for a person's login role or for ingest's /admin/* (TETHER_ADMIN_TOKEN):
-- they read everything, move and drop dead letters, queue events again,
-- and prune. (`backfill`, `reconcile` and `link-user` write the synced
-- tables and events: run them as the owner.)
GRANT USAGE ON SCHEMA :"schema", apalis TO tether_operator;
GRANT SELECT
  ON :"schema".stripe_events, :"schema".received_events, :"schema".processed_events,
     :"schema".polled_events, :"schema".users, :"schema".organizations,
     :"schema".webhook_logs, :"schema".rejected_deliveries, :"schema".supabase_signups
  TO tether_operator;
SELECT format('GRANT SELECT ON %I.%I TO tether_operator', :'schema', name) FROM tether_synced
\gexec
GRANT UPDATE (received_at), DELETE ON :"schema".received_events TO tether_operator;
GRANT INSERT, DELETE ON :"schema".processed_events TO tether_operator;
GRANT INSERT, DELETE, UPDATE (created_at) ON :"schema".webhook_logs TO tether_operator;
GRANT SELECT, INSERT, UPDATE, DELETE ON apalis.jobs TO tether_operator;
GRANT SELECT ON apalis.workers TO tether_operator;

SELECT format('DROP POLICY IF EXISTS %3$I ON %1$I.%2$I; '
              'CREATE POLICY %3$I ON %1$I.%2$I TO %3$I USING (true) WITH CHECK (true)',
              :'schema', grant_on.tbl, grant_on.role)
FROM (SELECT * FROM (VALUES ('received_events', 'tether_retention'), ('processed_events', 'tether_retention'),
             ('webhook_logs', 'tether_retention'), ('supabase_signups', 'tether_retention'),
             ('supabase_signups', 'tether_supabase_webhook'),
             ('supabase_signups', 'tether_signups'), ('organizations', 'tether_signups'),
             ('received_events', 'tether_operator'), ('processed_events', 'tether_operator'),
             ('users', 'tether_operator'), ('organizations', 'tether_operator'),
             ('webhook_logs', 'tether_operator'), ('rejected_deliveries', 'tether_operator'),
             ('supabase_signups', 'tether_operator'))
     AS fixed(tbl, role)
UNION ALL
SELECT name, 'tether_operator' FROM tether_synced) AS grant_on(tbl, role)
\gexec

COMMIT;
