#!/usr/bin/env bash
# What `has_entitlement` (migrations/optional/billing_state.sql) costs inside
# an app's row-level security policy, at 100,000 customers: a measurement
# for BENCHMARKS.md, never a test assertion (the tests prove what it
# decides; this says how long it takes).
#
#   scripts/bench-has-entitlement.sh                 100,000 customers
#   CUSTOMERS=1000000 scripts/bench-has-entitlement.sh
#   BENCH_SERVER_URL=postgres://postgres@127.0.0.1:5440 scripts/bench-has-entitlement.sh
#
# Its own database (tether_bench_entitlements, dropped and re-created), with
# tether's migrations applied by psql, Supabase's roles and auth.uid() as
# the tests recreate them, and per customer: a linked user, a summary and
# three active entitlements (every tenth customer has `pro-export`). The
# app table `exports` holds 100,000 rows behind a policy on
# `has_entitlement('pro-export')`. Prints EXPLAIN ANALYZE of:
#   1. one call, as an entitled user;
#   2. 10,000 calls in one query (the per-call cost is its time / 10,000);
#   3. the app's query through the policy written as Supabase advises,
#      `(SELECT has_entitlement(...))`: evaluated once per query;
#   4. the same policy without the sub-select: evaluated once per row.
set -euo pipefail
cd "$(dirname "$0")/.."

server=${BENCH_SERVER_URL:-postgres://postgres@127.0.0.1:5432}
db=tether_bench_entitlements
customers=${CUSTOMERS:-100000}
url="$server/$db"
run() { psql "$url" -X -q -v ON_ERROR_STOP=1 "$@"; }

psql "$server/postgres" -X -q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
for migration in migrations/2*.sql; do
    run -f "$migration"
done
run <<'SQL'
DO $$ BEGIN CREATE ROLE anon NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE authenticated NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE service_role NOLOGIN BYPASSRLS; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE SCHEMA auth;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $f$
  SELECT nullif(current_setting('request.jwt.claims', true)::jsonb ->> 'sub', '')::uuid $f$;
GRANT USAGE ON SCHEMA auth, public TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;
SQL
run -v schema=public -f migrations/optional/billing_state.sql
run -v customers="$customers" <<'SQL'
INSERT INTO end_customers (stripe_customer_id)
SELECT 'cus_bench' || n FROM generate_series(1, :customers) AS n;
INSERT INTO users (id, customer_id)
SELECT md5(stripe_customer_id)::uuid, id FROM end_customers;
INSERT INTO entitlement_summaries (stripe_customer_id, customer_id, last_event_id, last_event_created,
                                   last_event_rank)
SELECT stripe_customer_id, id, 'evt_bench', now(), 1 FROM end_customers;
INSERT INTO active_entitlements (summary_id, stripe_customer_id, stripe_active_entitlement_id, lookup_key)
SELECT s.id, s.stripe_customer_id, 'ent_' || k || '_' || s.stripe_customer_id, k
FROM entitlement_summaries s,
     LATERAL (VALUES ('basic'), ('seats'),
                     (CASE WHEN substr(s.stripe_customer_id, 10)::int % 10 = 0
                           THEN 'pro-export' ELSE 'api' END)) AS keys(k);
CREATE TABLE exports (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO exports SELECT n, 'export ' || n FROM generate_series(1, 100000) AS n;
ALTER TABLE exports ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON exports TO anon, authenticated;
CREATE POLICY pro_exports ON exports FOR SELECT TO authenticated
    USING ((SELECT has_entitlement('pro-export')));
VACUUM ANALYZE;
SQL

entitled=$(run -At -c "SELECT md5('cus_bench10')::uuid")
echo "customers: $customers; rows in exports: 100000; entitled user: $entitled"
# One session, as a pooled connection of Supabase's API is: each statement
# runs once to warm the caches, then once under EXPLAIN ANALYZE.
measure() {
    echo "== $1"
    run -c "SET ROLE authenticated" \
        -c "SELECT set_config('request.jwt.claims', '{\"sub\": \"$entitled\"}', false)" \
        -c "$2" -c "EXPLAIN (ANALYZE, COSTS OFF) $2" |
        grep -E 'Execution Time|rows=' | head -"${3:-3}"
}
measure "1. one call" "SELECT has_entitlement('pro-export')" 2
measure "2. 10,000 calls in one query (per call: time / 10,000)" \
    "SELECT has_entitlement('pro-export') FROM generate_series(1, 10000)" 2
measure "3. SELECT count(*) FROM exports, policy USING ((SELECT has_entitlement(...)))" \
    "SELECT count(*) FROM exports" 4
measure "4. one row by id through that policy" "SELECT name FROM exports WHERE id = 4242" 3
run -c "ALTER POLICY pro_exports ON exports USING (has_entitlement('pro-export'))"
measure "5. SELECT count(*) FROM exports, policy USING (has_entitlement(...)): once per row" \
    "SELECT count(*) FROM exports" 3
echo "== 6. the lookup inside has_entitlement, as its owner: index scans only"
run -c "EXPLAIN (ANALYZE, COSTS OFF)
        SELECT EXISTS (SELECT FROM users u
                       JOIN entitlement_summaries s ON s.customer_id = u.customer_id
                       JOIN active_entitlements e ON e.summary_id = s.id AND e.lookup_key = 'pro-export'
                       WHERE u.id = '$entitled')" | grep -E 'Scan|Execution Time'
echo "== 7. baseline: SELECT count(*) FROM exports as the owner, no policy"
run -c "SELECT count(*) FROM exports" -c "EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*) FROM exports" |
    grep -E 'Execution Time'
