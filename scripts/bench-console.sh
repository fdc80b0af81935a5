#!/usr/bin/env bash
# How fast each console page answers with 1,000,000 stored events and
# 10,000 dead letters. Loads a database with generate_series straight into
# tether's real tables (received_events, processed_events, webhook_logs,
# apalis.jobs, end_customers, rejected_deliveries, backfill_cursors), starts
# `tether ingest` with an admin token, signs in as the console does, and
# times each of the console's requests with curl: median and worst of
# $RUNS. Prints Markdown rows for BENCHMARKS.md.
#
#   scripts/bench-console.sh               # load (once) and measure
#   EVENTS=100000 DEAD=1000 scripts/bench-console.sh
#   RELOAD=1 scripts/bench-console.sh      # drop and load again
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-1000000}
DEAD=${DEAD:-10000}
RUNS=${RUNS:-20}
SERVER=${SERVER:-postgres://postgres@127.0.0.1:5432}
DB=${DB:-tether_console_bench}
URL="$SERVER/$DB"
PORT=${PORT:-18480}
TOKEN=bench-console-token
bin=${TETHER_BIN:-target/debug/tether}
[ -n "${TETHER_BIN:-}" ] || cargo build --bin tether --quiet

psql_db() { psql -X -q -v ON_ERROR_STOP=1 "$URL" "$@"; }

exists=$(psql -X -tA "$SERVER/postgres" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")
if [ -n "${RELOAD:-}" ] || [ -z "$exists" ]; then
  psql -X -q "$SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  DATABASE_URL="$URL" "$bin" migrate >/dev/null
  echo "loading $EVENTS events and $DEAD dead letters" >&2
  start=$(date +%s)
  psql_db <<SQL
SET synchronous_commit = off;
-- Events: ten types, one object per ten events (100,000 customers at
-- 1,000,000 events), created over the last 30 days, bodies about 1.5 kB.
INSERT INTO received_events (id, type, api_version, created, livemode, account, body, received_at, object_id)
SELECT 'evt_bench' || lpad(i::text, 10, '0'),
       (ARRAY['customer.created','customer.updated','payment_intent.succeeded',
              'customer.subscription.created','customer.subscription.updated',
              'invoice.paid','invoice.created','charge.succeeded','customer.updated',
              'payment_intent.succeeded'])[1 + i % 10],
       '2026-07-29.dahlia',
       now() - make_interval(secs => ($EVENTS - i) * (2592000.0 / $EVENTS)),
       false, NULL,
       json_build_object('id', 'evt_bench' || lpad(i::text, 10, '0'), 'object', 'event',
         'type', 'customer.updated', 'api_version', '2026-07-29.dahlia', 'livemode', false,
         'created', extract(epoch FROM now())::int8 - ($EVENTS - i)::int8 * 2592000 / $EVENTS,
         'data', json_build_object('object', json_build_object(
           'id', 'cus_bench' || (i / 10), 'object', 'customer',
           'email', 'customer' || (i / 10) || '@example.com', 'name', 'Customer ' || (i / 10),
           'metadata', json_build_object('note', md5(i::text) || repeat(' padding', 160)))))::text,
       now() - make_interval(secs => ($EVENTS - i) * (2592000.0 / $EVENTS)),
       'cus_bench' || (i / 10)
FROM generate_series(1, $EVENTS) AS i;
-- Every event but the dead ones (the last $DEAD ids) processed and logged.
INSERT INTO processed_events (id, processed_at)
SELECT id, received_at FROM received_events WHERE id <= 'evt_bench' || lpad(($EVENTS - $DEAD)::text, 10, '0');
INSERT INTO webhook_logs (event_type, event_id, status, attempt, created_at)
SELECT type, id, 'success', 1, received_at FROM received_events
WHERE id <= 'evt_bench' || lpad(($EVENTS - $DEAD)::text, 10, '0');
-- The dead letters: four failed attempts each, and their killed job.
INSERT INTO webhook_logs (event_type, event_id, status, error_message, attempt, created_at)
SELECT r.type, r.id, CASE WHEN a = 4 THEN 'dead' ELSE 'error' END,
       'database error: ' || CASE WHEN r.id::text LIKE '%7' THEN 'deadlock detected'
                                  ELSE 'null value in column "email" violates not-null constraint' END,
       a, r.received_at + make_interval(secs => a)
FROM received_events r, generate_series(1, 4) AS a
WHERE r.id > 'evt_bench' || lpad(($EVENTS - $DEAD)::text, 10, '0');
INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, last_result, done_at)
SELECT 'bench' || lpad(row_number() OVER ()::text, 20, '0'), 'tether::stripe_events',
       convert_to(json_build_object('events', json_build_array(r.id))::text, 'UTF8'),
       'Killed', 4, 4, r.received_at, 0,
       jsonb_build_object('Err', 'database error: ' || CASE WHEN r.id::text LIKE '%7' THEN 'deadlock detected'
                                  ELSE 'null value in column "email" violates not-null constraint' END),
       r.received_at + interval '4 seconds'
FROM received_events r
WHERE r.id > 'evt_bench' || lpad(($EVENTS - $DEAD)::text, 10, '0');
-- Synced rows for the objects, rejected deliveries, backfill progress.
INSERT INTO end_customers (stripe_customer_id, email, name, last_event_id, last_event_created, last_event_rank)
SELECT 'cus_bench' || c, 'customer' || c || '@example.com', 'Customer ' || c,
       'evt_bench' || lpad((c * 10 + 9)::text, 10, '0'), now(), 1
FROM generate_series(0, $EVENTS / 10 - 1) AS c;
INSERT INTO rejected_deliveries (event_id, event_type, reason, body_excerpt, body_bytes, received_at)
SELECT 'evt_rejected' || i, 'customer.updated', 'not a Stripe event: no data.object.id',
       '{"id": "evt_rejected' || i || '"', 1800, now() - make_interval(mins => i)
FROM generate_series(1, 1000) AS i;
INSERT INTO backfill_cursors (kind, starting_after, objects, started_at, finished_at)
VALUES ('customers', 'cus_bench99999', 100000, now() - interval '2 hours', now() - interval '1 hour'),
       ('subscriptions', 'sub_bench4000', 4000, now() - interval '1 hour', NULL);
SQL
  psql_db -c "VACUUM ANALYZE" >/dev/null
  echo "loaded in $(( $(date +%s) - start )) s" >&2
fi

DATABASE_URL="$URL" STRIPE_WEBHOOK_SECRET=whsec_bench_console TETHER_ADMIN_TOKEN=$TOKEN \
  TETHER_LISTEN=127.0.0.1:$PORT RUST_LOG=warn "$bin" ingest &
ingest=$!
trap 'kill $ingest 2>/dev/null; wait $ingest 2>/dev/null || true; rm -f "$jar"' EXIT
jar=$(mktemp)
base=http://127.0.0.1:$PORT
for _ in $(seq 1 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done

csrf=$(curl -fs -c "$jar" -b "$jar" "$base/console/api/session" | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf"])')
csrf=$(curl -fs -c "$jar" -b "$jar" -H "x-csrf-token: $csrf" -H 'content-type: application/json' \
  -d "{\"token\": \"$TOKEN\"}" "$base/console/api/session" | python3 -c 'import json,sys; print(json.load(sys.stdin)["csrf"])')

# A cursor to the last page of 50 dead letters, the deepest there is.
deep=$(psql_db -tA -c "SELECT (extract(epoch FROM done_at) * 1000000)::int8 || '.' || id FROM apalis.jobs
  WHERE status = 'Killed' ORDER BY done_at DESC, id DESC OFFSET $(( DEAD > 51 ? DEAD - 51 : 0 )) LIMIT 1")
dead_event=$(psql_db -tA -c "SELECT 'evt_bench' || lpad(($EVENTS - 5)::text, 10, '0')")
old_event=evt_bench$(printf '%010d' 12345)

measure() { # label, method, path[, body]
  local label=$1 method=$2 path=$3 body=${4:-} times=()
  for _ in $(seq 1 "$RUNS"); do
    if [ "$method" = POST ]; then
      t=$(curl -fs -o /dev/null -w '%{time_total}' -b "$jar" -H "x-csrf-token: $csrf" \
        -H 'content-type: application/json' -d "$body" "$base$path")
    else
      t=$(curl -fs -o /dev/null -w '%{time_total}' -b "$jar" "$base$path")
    fi
    times+=("$t")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v label="$label" -v path="$method $path" '
    { t[NR] = $1 * 1000 } END { printf "| %s | `%s` | %.1f | %.1f |\n", label, path, t[int((NR + 1) / 2)], t[NR] }'
}

echo "| page | request | median ms | worst ms |"
echo "|---|---|---:|---:|"
measure "page shell" GET /console/
measure "overview" GET /console/api/status
measure "dead letters, first page" GET "/console/api/dead-letters"
measure "dead letters, last page (page $(( DEAD / 50 )), 50 a page)" GET "/console/api/dead-letters?after=$deep"
measure "dead letters by type" GET "/console/api/dead-letters?type=invoice.paid"
measure "dead letters by error text" GET "/console/api/dead-letters?error=deadlock"
measure "dead letters by a type none has" GET "/console/api/dead-letters?type=charge.refunded"
measure "dead letters of an account none has" GET "/console/api/dead-letters?account=acct_none"
measure "replay all matching, dry run" POST /console/api/dead-letters/replay '{"all": true, "error": "deadlock", "dry_run": true}'
measure "event (a dead letter)" GET "/console/api/events/$dead_event"
measure "event (applied)" GET "/console/api/events/$old_event"
measure "search by object id" GET "/console/api/search?q=cus_bench1234"
measure "search by event id" GET "/console/api/search?q=$old_event"
measure "intake" GET /console/api/intake
