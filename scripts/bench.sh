#!/usr/bin/env bash
# Reproduces the table in BENCHMARKS.md: every number in it comes from one
# `tether bench --json` run below, against a release build of tether, its
# own database (`tether_bench`, dropped and re-created), one `tether ingest`
# and N `tether worker` processes, all on this machine.
#
#   scripts/bench.sh                 all scenarios
#   scripts/bench.sh ingest drain    some of them: ingest ingest256 drain e2e
#                                    e2e1 e2e4 e2e16 e2e64 pgbench idle flat ops backfill
#   scripts/bench.sh lowc            the low-concurrency series: e2e1 e2e4 e2e16
#                                    e2e64 and pgbench at 1, 4, 16 and 64 clients
#   TETHER_BIN=/path/to/tether scripts/bench.sh ingest    another build of tether
#   BENCH_PGPORT=5440 scripts/bench.sh e2e16              another PostgreSQL on this host
#   BENCH_LISTEN=127.0.0.1:18190 ...  ingest's address (default 127.0.0.1:18090)
#   BENCH_MIX=invoice.paid=1,... ...   the event mix of every bench run (default: tether bench's)
#   scripts/bench.sh drainbilling    the drain with invoices and charges in the mix
#   BENCH_RESET_STATEMENTS=1 ...     reset pg_stat_statements (server-wide) before
#                                    each e2e16/e2e64 run; read with scripts/statements.sql
#
# e2e1, e2e4, e2e16 and e2e64 report what each applied event cost
# PostgreSQL (CPU, WAL, commits), the ack and ack-to-row p99; at 1 and 4
# connections they send BENCH_EVENTS_LOW events (default 20000) instead. `pgbench` runs PostgreSQL's own limit for comparison:
# pgbench_limit.sh, one ~3.4 kB upsert and one queue insert per
# transaction, at 1, 4, 16 and 64 clients. That script is not ours and lives
# outside the repository (with the fixture it reads), so it is called where
# it is: PGBENCH_LIMIT (default /work/shared/bench/pgbench_limit.sh), for
# PGBENCH_SECS seconds per run (default 20). When e2e16/e2e64 and pgbench run
# in the same invocation, the summary ends with tether's rate over pgbench's.
#
# Results go to target/bench/<scenario>.json; a markdown summary to stdout.
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), like the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

scenarios=("${@:-ingest ingest256 drain e2e e2e1 e2e4 e2e16 e2e64 pgbench idle flat ops backfill}")
read -r -a scenarios <<<"${scenarios[*]/lowc/e2e1 e2e4 e2e16 e2e64 pgbench}"
events=${BENCH_EVENTS:-200000}
pgport=${BENCH_PGPORT:-5432}
pgbench_limit=${PGBENCH_LIMIT:-/work/shared/bench/pgbench_limit.sh}
out=target/bench
mkdir -p "$out"

# TLS to a database on the same host only costs CPU (it was ~20% of ingest).
export DATABASE_URL="postgres://postgres@127.0.0.1:$pgport/tether_bench?sslmode=disable"
export STRIPE_WEBHOOK_SECRET=whsec_bench_secret
# Another bench on this box (another checkout) needs another BENCH_LISTEN and
# BENCH_PGPORT: the script drops and re-creates tether_bench.
export TETHER_LISTEN=${BENCH_LISTEN:-127.0.0.1:18090}
export RUST_LOG=warn
url="http://$TETHER_LISTEN/webhooks/stripe"
# TETHER_BIN runs another build (say, the previous commit's) instead.
bin=${TETHER_BIN:-target/release/tether}

say() { echo "bench.sh: $*" >&2; }
pg() { psql -qh 127.0.0.1 -p "$pgport" -U postgres "$@"; }
[ -n "${TETHER_BIN:-}" ] || cargo build --release --bin tether --quiet

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

fresh_database() {
  stop_all
  pg -d postgres -c "DROP DATABASE IF EXISTS tether_bench WITH (FORCE)" -c "CREATE DATABASE tether_bench" >/dev/null
  "$bin" migrate >/dev/null
}
start_ingest() {
  "$bin" ingest >"$out/ingest.log" 2>&1 & ingest_pid=$!; pids+=("$ingest_pid")
  for _ in $(seq 1 50); do
    # Answered by our ingest, not by another one holding the port.
    kill -0 "$ingest_pid" 2>/dev/null || { say "ingest exited: $(tail -1 "$out/ingest.log")"; exit 1; }
    curl -fs "http://$TETHER_LISTEN/healthz" >/dev/null && kill -0 "$ingest_pid" 2>/dev/null && return
    sleep 0.1
  done
  say "ingest did not start"; exit 1
}
start_workers() {
  worker_pids=()
  for i in $(seq 1 "$1"); do
    "$bin" worker >"$out/worker-$i.log" 2>&1 & worker_pids+=($!); pids+=($!)
  done
}
stop_all() { cleanup; pids=(); worker_pids=(); ingest_pid=; }
# Peak resident memory (VmHWM) of a process, in MB.
peak_rss() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
# Every kind a billing page reads: the five types plus invoices and charges.
billing_mix="customer.created=1,customer.updated=2,payment_intent.succeeded=2,customer.subscription.created=1,customer.subscription.updated=1,invoice.created=1,invoice.finalized=1,invoice.paid=2,charge.succeeded=2,charge.refunded=1"
mix_args=()
[[ -z "${BENCH_MIX:-}" ]] || mix_args=(--mix "$BENCH_MIX")
bench() { local name=$1; shift; "$bin" bench --url "$url" --json "${mix_args[@]}" "$@" >"$out/$name.json" 2>"$out/$name.err"; }
# field NAME EXPR [FORMAT]: a value from target/bench/NAME.json, e.g. field ingest 'r["acks_per_sec"]' ',.0f'
field() { python3 -c "import json,sys; r=json.load(open('$out/$1.json')); print(format(eval(sys.argv[1]), sys.argv[2]))" "$2" "${3:-}"; }
# Queue drained and vacuumed between scenarios, so one does not tax the next.
settle() { pg -d tether_bench -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null; }

# 1,000,000 events already stored and applied (with their webhook_logs
# rows), as after months in production, made in SQL because sending them
# would take minutes.
prefill() {
  pg -d tether_bench >/dev/null <<'SQL'
INSERT INTO received_events (id, type, api_version, created, livemode, body, received_at)
SELECT 'evt_prefill_' || lpad(g::text, 12, '0'), 'customer.updated', '2026-07-29.dahlia',
       to_timestamp(1700000000 + g), false,
       jsonb_build_object('id', 'evt_prefill_' || g, 'object', 'event', 'type', 'customer.updated',
                          'data', jsonb_build_object('object', jsonb_build_object('id', 'cus_prefill' || (g % 50000),
                          'object', 'customer', 'email', 'prefill' || g || '@example.com',
                          'description', repeat('x', 1500))))::text,
       now() - interval '1 day'
FROM generate_series(1, 1000000) AS g;
INSERT INTO processed_events (id, processed_at)
SELECT 'evt_prefill_' || lpad(g::text, 12, '0'), now() - interval '1 day'
FROM generate_series(1, 1000000) AS g;
INSERT INTO webhook_logs (event_type, event_id, status, attempt, created_at)
SELECT 'customer.updated', 'evt_prefill_' || lpad(g::text, 12, '0'), 'success', 1, now() - interval '1 day'
FROM generate_series(1, 1000000) AS g;
VACUUM ANALYZE;
CHECKPOINT;
SQL
}

run_ingest() { # name connections
  fresh_database; start_ingest
  bench "$1" -n "$events" -c "$2" --no-wait
  ingest_rss=$(peak_rss "$ingest_pid")
  say "$1: $(field "$1" 'r["acks_per_sec"]' '.0f') acks/s, p99 $(field "$1" 'r["latency_ms"]["p99"]' '.1f') ms, ingest peak RSS ${ingest_rss} MB"
  echo "| ingest alone, $2 connections | $(field "$1" 'r["acks_per_sec"]' ',.0f') acks/s | p50 $(field "$1" 'round(r["latency_ms"]["p50"],1)') / p99 $(field "$1" 'round(r["latency_ms"]["p99"],1)') / max $(field "$1" 'round(r["latency_ms"]["max"],1)') ms | ingest ${ingest_rss} MB |"
}

run_drain() { # name [prefilled]
  fresh_database
  [[ "${2:-}" == prefilled ]] && { say "prefilling 1,000,000 events"; prefill; }
  start_ingest
  bench "$1-send" -n "$events" --run-id "${1//[^a-z0-9]/}" --no-wait
  settle
  start_workers 2
  bench "$1" -n "$events" --run-id "${1//[^a-z0-9]/}" --skip-send --verify --wait-timeout 600
  local rss="$(peak_rss "${worker_pids[0]}") / $(peak_rss "${worker_pids[1]}")"
  say "$1: $(field "$1" 'r["applied"]["apply_per_sec"]' '.0f') applied/s, ingest $(field "$1-send" 'r["acks_per_sec"]' '.0f') acks/s, worker peak RSS $rss MB"
  echo "| 2 workers draining $events queued events${2:+ (1M stored before)} | $(field "$1" 'r["applied"]["apply_per_sec"]' ',.0f') events/s | verify: $(field "$1" '"ok" if r["verify"]["rows_wrong"]+r["verify"]["outcome_count_wrong"]+r["verify"]["stored_not_applied"]==0 else "FAILED"') | workers $rss MB |"
  [[ "${2:-}" == prefilled ]] && echo "| ingest alone, 64 connections (1M stored before) | $(field "$1-send" 'r["acks_per_sec"]' ',.0f') acks/s | p99 $(field "$1-send" 'round(r["latency_ms"]["p99"],1)') ms | |"
  return 0
}

run_e2e() {
  fresh_database; start_ingest; start_workers 2
  bench e2e --duration 60 -c 64 --rate "${E2E_RATE:-4000}" --verify --wait-timeout 300
  local rss="ingest $(peak_rss "$ingest_pid"), workers $(peak_rss "${worker_pids[0]}") / $(peak_rss "${worker_pids[1]}")"
  say "e2e: $(field e2e 'r["applied"]["events_per_sec"]' '.0f') applied/s end to end, lag p99 $(field e2e 'r["applied"]["lag_ms"]["p99"]' '.0f') ms, $rss MB"
  echo "| end to end, 60 s offered at ${E2E_RATE:-4000}/s, ingest + 2 workers | $(field e2e 'r["applied"]["events_per_sec"]' ',.0f') events/s applied | lag p50 $(field e2e 'round(r["applied"]["lag_ms"]["p50"],1)') / p99 $(field e2e 'round(r["applied"]["lag_ms"]["p99"],1)') ms; verify: $(field e2e '"ok" if r["verify"]["rows_wrong"]==0 and r["verify"]["outcome_count_wrong"]==0 else "FAILED"') | $rss MB |"
  bench e2e-max --duration 60 -c 64 --verify --wait-timeout 600
  echo "| end to end, 60 s as fast as ingest acks, ingest + 2 workers | $(field e2e-max 'r["applied"]["events_per_sec"]' ',.0f') events/s applied (acks $(field e2e-max 'r["acks_per_sec"]' ',.0f')/s) | lag p99 $(field e2e-max 'round(r["applied"]["lag_ms"]["p99"])') ms | |"
}

# End to end at a fixed concurrency, with what each applied event cost
# PostgreSQL. Starts from a checkpoint, so every run pays the same full-page
# writes.
run_e2e_cost() { # name connections
  local n=$events
  (( $2 >= 16 )) || n=${BENCH_EVENTS_LOW:-20000}
  fresh_database; settle
  # Profiling (BENCHMARKS.md): statement statistics of this run alone.
  [[ -z "${BENCH_RESET_STATEMENTS:-}" ]] || pg -d postgres -c "SELECT pg_stat_statements_reset()" >/dev/null
  start_ingest; start_workers 2
  bench "$1" -n "$n" -c "$2" --verify --wait-timeout 600
  local rss="ingest $(peak_rss "$ingest_pid"), workers $(peak_rss "${worker_pids[0]}") / $(peak_rss "${worker_pids[1]}")"
  local per='r["database"]["per_event"]'
  local cpu="$(field "$1" "'?' if $per['server_cpu_ms'] is None else format($per['server_cpu_ms'], '.3f')") ms CPU"
  local wal="$(field "$1" "$per['wal_bytes']" ',.0f') B WAL"
  local commits="$(field "$1" "$per['commits']" '.3f') commits"
  local rate; rate=$(field "$1" 'r["applied"]["events_per_sec"]' '.0f')
  e2e_rate[$2]=$rate
  say "$1: $rate applied/s end to end, per applied event $cpu, $wal, $commits"
  local p99="ack p99 $(field "$1" 'round(r["latency_ms"]["p99"],1)') ms, ack to row p99 $(field "$1" 'round(r["applied"]["lag_ms"]["p99"],1)') ms"
  echo "| end to end, $2 connections, $n events, ingest + 2 workers | $(field "$1" 'r["applied"]["events_per_sec"]' ',.0f') events/s applied | per applied event: $cpu, $wal, $commits; $p99; verify: $(field "$1" '"ok" if r["verify"]["rows_wrong"]+r["verify"]["outcome_count_wrong"]+r["verify"]["stored_not_applied"]==0 else "FAILED"') | $rss MB |"
}

# PostgreSQL's own limit on this box, in this session: transactions/s of
# the `txn` script (one event's upsert and queue insert per transaction).
run_pgbench() {
  stop_all
  PGPORT=$pgport "$pgbench_limit" tether_pgbench "${PGBENCH_SECS:-20}" 1 4 16 64 >"$out/pgbench.txt" 2>&1
  for c in 1 4 16 64; do
    pgbench_tps[$c]=$(sed -n "s/^script=txn clients=$c .* tps=\([0-9.]*\) .*/\1/p" "$out/pgbench.txt")
    [[ -n "${pgbench_tps[$c]}" ]] || { say "pgbench gave no rate at $c clients; see $out/pgbench.txt"; exit 1; }
    say "pgbench: ${pgbench_tps[$c]} txn/s at $c clients"
    echo "| pgbench_limit.sh, one event per transaction, $c clients, ${PGBENCH_SECS:-20} s | $(python3 -c "print(format(${pgbench_tps[$c]}, ',.0f'))") txn/s | | |"
  done
}

# tether's applied events/s over pgbench's transactions/s, when both ran.
print_ratios() {
  for c in 1 4 16 64; do
    [[ -n "${e2e_rate[$c]:-}" && -n "${pgbench_tps[$c]:-}" ]] || continue
    echo "| tether / pgbench at $c connections | $(python3 -c "print(format(${e2e_rate[$c]} / ${pgbench_tps[$c]}, '.2f'))")× | | |"
  done
}

run_idle() {
  fresh_database; start_ingest; start_workers 2
  bench idle --duration 30 --rate 20 -c 4 --verify
  echo "| idle latency, 20 events/s | stored -> applied | p50 $(field idle 'round(r["applied"]["lag_ms"]["p50"],1)') / p99 $(field idle 'round(r["applied"]["lag_ms"]["p99"],1)') / max $(field idle 'round(r["applied"]["lag_ms"]["max"],1)') ms; ack p50 $(field idle 'round(r["latency_ms"]["p50"],1)') ms | |"
}

# Operators at scale: `tether status` on 1,000,000 stored events and 10,000
# dead letters, then `tether prune` of those 1,000,000 events while ingest
# is under load (it must answer no 503).
run_ops() {
  fresh_database; say "prefilling 1,000,000 events and 10,000 dead letters"; prefill
  pg -d tether_bench -f queue/bench_dead_letters.sql >/dev/null
  local times=()
  for _ in 1 2 3 4 5; do
    local t0; t0=$(date +%s%N); "$bin" status --json >/dev/null; times+=($(( ($(date +%s%N) - t0) / 1000000 )))
  done
  echo "| tether status, 1M events + 10k dead letters | ${times[*]} ms (5 runs, whole process) | | |"
  local t0; t0=$(date +%s%N); "$bin" dlq list --json --limit 50 >/dev/null
  echo "| tether dlq list, 10k dead letters | $(( ($(date +%s%N) - t0) / 1000000 )) ms | | |"
  start_ingest
  bench ops-load --duration 60 -c 16 --rate 2000 --no-wait &
  local load=$!
  sleep 5
  t0=$(date +%s%N); "$bin" prune --older-than 12h --json >"$out/prune.json"; local prune_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  wait "$load"
  echo "| tether prune of 1M events + 1M logs during ingest at 2,000/s | $(field prune 'r["events"]' ',') events, $(field prune 'r["logs"]' ',') logs in ${prune_ms} ms | ingest statuses $(field ops-load 'r["statuses"]') | |"
}

# Backfill of 100,000 customers from the local fake of Stripe's API (no
# network delay), with no rate limit: what the database and tether sustain.
run_backfill() {
  fresh_database
  local fake_log="$out/fake-stripe.log"
  python3 tests/fake_stripe/server.py --customers 100000 >"$fake_log" 2>&1 & pids+=($!)
  for _ in $(seq 1 300); do grep -q listening "$fake_log" && break; sleep 0.2; done
  local base="http://$(sed -n 's/^listening on //p' "$fake_log")"
  /usr/bin/time -f "%M" -o "$out/backfill.rss" env STRIPE_SECRET_KEY=sk_test_fake STRIPE_API_BASE="$base" \
    TETHER_STRIPE_RATE=100000 "$bin" backfill customers --json >"$out/backfill.json"
  echo "| backfill of 100,000 customers from a local fake | $(python3 -c "import json; print(format(json.load(open('$out/backfill.json'))[0]['objects_per_sec'], ',.0f'))") objects/s | $(python3 -c "import json; r=json.load(open('$out/backfill.json'))[0]; print(r['written'], 'rows written')") | tether $(awk '{printf "%.1f", $1/1024}' "$out/backfill.rss") MB |"
}

declare -A e2e_rate=() pgbench_tps=()
echo "| scenario | throughput | latency / check | peak RSS |"
echo "|---|---|---|---|"
for s in "${scenarios[@]}"; do
  case $s in
    ingest) run_ingest ingest 64 ;;
    ingest256) run_ingest ingest256 256 ;;
    drain) run_drain drain ;;
    drainbilling) mix_args=(--mix "$billing_mix"); run_drain drainbilling; mix_args=() ;;
    e2e) run_e2e ;;
    e2e1) run_e2e_cost e2e1 1 ;;
    e2e4) run_e2e_cost e2e4 4 ;;
    e2e16) run_e2e_cost e2e16 16 ;;
    e2e64) run_e2e_cost e2e64 64 ;;
    pgbench) run_pgbench ;;
    idle) run_idle ;;
    flat) run_drain flat prefilled ;;
    ops) run_ops ;;
    backfill) run_backfill ;;
    *) say "unknown scenario $s"; exit 2 ;;
  esac
done
print_ratios
stop_all
