#!/usr/bin/env bash
# End-to-end throughput over the three ways Supabase offers to reach its
# database, reproduced on this machine in one run: a direct connection,
# PgBouncer in session mode (Supabase's pooler on 5432) and PgBouncer in
# transaction mode (6543), plus transaction mode with the workers'
# LISTEN on a direct connection (TETHER_LISTEN_DATABASE_URL). Each run:
# a fresh database, `tether migrate`, one `tether ingest` and two
# `tether worker`, all through that connection, then `tether bench -n N
# -c 16 --verify` (events/s from the first send to the last applied).
# README ("Running on Supabase") and BENCHMARKS.md ("Behind a pooler")
# have the numbers.
#
#   scripts/bench-poolers.sh                 every mode, 30,000 events each
#   BENCH_EVENTS=10000 scripts/bench-poolers.sh direct transaction
#
# direct-unnamed runs the transaction-mode way (TETHER_POOLER=transaction)
# on the direct connection, to tell the statements' cost from the pooler's
# hop. Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and
# Debian's pgbouncer; uses (and drops) the database tether_poolers; ports
# 18091 (ingest), 16532 and 16533 (PgBouncer). Results:
# target/bench/pooler-*.json.
set -euo pipefail
cd "$(dirname "$0")/.."

modes=("${@:-direct direct-unnamed session transaction transaction-listen}")
read -r -a modes <<<"${modes[*]}"
events=${BENCH_EVENTS:-30000}
bin=${TETHER_BIN:-target/release/tether}
out=target/bench
mkdir -p "$out"
[ -n "${TETHER_BIN:-}" ] || cargo build --release --bin tether --quiet

direct="postgres://postgres@127.0.0.1:5432/tether_poolers?sslmode=disable"
export STRIPE_WEBHOOK_SECRET=whsec_bench_secret TETHER_LISTEN=127.0.0.1:18091 RUST_LOG=warn
url="http://$TETHER_LISTEN/webhooks/stripe"
say() { echo "bench-poolers.sh: $*" >&2; }

pids=()
dir=$(mktemp -d)
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for f in "$dir"/*.pid; do [ -e "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT

# PgBouncer 1.18 as Debian ships it; it refuses to run as root. Session
# mode holds a server session per client connection for its lifetime, so
# it needs one for each pooled connection of ingest, workers and bench;
# transaction mode shares 20, as a small Supabase project's pooler does.
start_pgbouncer() { # mode port pool_size
  printf '"postgres" ""\n' >"$dir/users.txt"
  cat >"$dir/$1.ini" <<EOF
[databases]
* = host=127.0.0.1 port=5432
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $2
auth_type = trust
auth_file = $dir/users.txt
pool_mode = $1
default_pool_size = $3
max_client_conn = 500
unix_socket_dir =
ignore_startup_parameters = extra_float_digits,options
pidfile = $dir/$1.pid
logfile = $dir/$1.log
EOF
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then chown -R postgres "$dir"; su postgres -s /bin/sh -c "/usr/sbin/pgbouncer -d $dir/$1.ini"
  else /usr/sbin/pgbouncer -d "$dir/$1.ini"; fi
  for _ in $(seq 1 50); do (echo >/dev/tcp/127.0.0.1/"$2") 2>/dev/null && return; sleep 0.1; done
  say "pgbouncer ($1) did not start"; exit 1
}

run() { # name database_url [VAR=value...], the variables for every process
  local name=$1 db=$2; shift 2
  local -a vars=(DATABASE_URL="$db" "$@")
  psql -qh 127.0.0.1 -U postgres -d postgres -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS tether_poolers WITH (FORCE)" \
    -c "CREATE DATABASE tether_poolers" >/dev/null
  env "${vars[@]}" "$bin" migrate >/dev/null
  env "${vars[@]}" "$bin" ingest 2>"$out/pooler-$name-ingest.log" & pids+=($!)
  for _ in $(seq 1 50); do curl -fs "http://$TETHER_LISTEN/readyz" >/dev/null && break; sleep 0.1; done
  for i in 1 2; do env "${vars[@]}" "$bin" worker 2>"$out/pooler-$name-worker-$i.log" & pids+=($!); done
  env "${vars[@]}" "$bin" bench --url "$url" --json -n "$events" -c 16 --verify --stats-wait 0 \
    --wait-timeout 600 >"$out/pooler-$name.json" 2>"$out/pooler-$name.err"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true; pids=()
  python3 - "$out/pooler-$name.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); a = r["applied"]; v = r["verify"]
ok = v["rows_wrong"] + v["outcome_count_wrong"] + v["stored_not_applied"] == 0
print(f'| {sys.argv[2]} | {a["events_per_sec"]:,.0f} events/s | {r["acks_per_sec"]:,.0f} acks/s '
      f'| lag p50 {a["lag_ms"]["p50"]:.0f} / p99 {a["lag_ms"]["p99"]:.0f} ms '
      f'| {a["applied"]:,} of {r["events"]:,} applied, verify {"ok" if ok else "FAILED"} |')
PY
}

echo "| connection | end to end | ingest | stored -> applied | |"
echo "|---|---|---|---|---|"
for mode in "${modes[@]}"; do
  case $mode in
    direct) run direct "$direct" ;;
    # The transaction-mode way (unnamed statements, polling) on the direct
    # connection: what the statements cost, without the pooler's hop.
    direct-unnamed) run direct-unnamed "$direct" TETHER_POOLER=transaction ;;
    session) start_pgbouncer session 16532 60
      run session "postgres://postgres@127.0.0.1:16532/tether_poolers" ;;
    transaction) [ -e "$dir/transaction.pid" ] || start_pgbouncer transaction 16533 20
      run transaction "postgres://postgres@127.0.0.1:16533/tether_poolers" ;;
    transaction-listen) [ -e "$dir/transaction.pid" ] || start_pgbouncer transaction 16533 20
      run transaction-listen "postgres://postgres@127.0.0.1:16533/tether_poolers" \
        TETHER_LISTEN_DATABASE_URL="$direct" ;;
    *) say "unknown mode $mode (direct, direct-unnamed, session, transaction, transaction-listen)"; exit 2 ;;
  esac
done
