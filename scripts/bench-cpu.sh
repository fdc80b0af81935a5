#!/usr/bin/env bash
# CPU seconds that `tether ingest` and two `tether worker` processes spend on
# 80,000 events (64 connections, or BENCH_C, then a drain with --verify), read from
# /proc when the work is done. On a box shared with other work, CPU time
# per event moves much less than throughput, so it compares two builds
# better. BENCHMARKS.md ("Telemetry overhead") has the numbers.
#
#   scripts/bench-cpu.sh LABEL path/to/tether          export off
#   scripts/bench-cpu.sh LABEL path/to/tether otel     export on, to scripts/otlp-sink.py
#
# Uses (and drops) the database tether_bench, like scripts/bench.sh.
set -u
mkdir -p "$(dirname "$0")/../target/bench"
cd "$(dirname "$0")/.."
label=$1; bin=$2
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/tether_bench?sslmode=disable"
export STRIPE_WEBHOOK_SECRET=whsec_bench_secret TETHER_LISTEN=127.0.0.1:18090 RUST_LOG=warn
url="http://$TETHER_LISTEN/webhooks/stripe"
if [ "${3:-}" = otel ]; then
  python3 scripts/otlp-sink.py 4318 2>target/bench/cpu-sink-$label.log & sink=$!
  export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
fi
cpu() { awk '{ printf "%.2f", ($14 + $15) / 100 }' /proc/$1/stat; }
psql -qh 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS tether_bench WITH (FORCE)" -c "CREATE DATABASE tether_bench" >/dev/null
"$bin" migrate >/dev/null
"$bin" ingest 2>/dev/null & ing=$!
for _ in $(seq 1 50); do curl -fs "http://$TETHER_LISTEN/healthz" >/dev/null && break; sleep 0.1; done
"$bin" bench --url "$url" --json -n 80000 -c "${BENCH_C:-64}" --run-id cpu --no-wait > target/bench/cpu-$label.json 2>/dev/null
ing_cpu=$(cpu $ing)
"$bin" worker 2>/dev/null & w1=$!
"$bin" worker 2>/dev/null & w2=$!
"$bin" bench --url "$url" --json -n 80000 --run-id cpu --skip-send --verify --wait-timeout 600 > target/bench/cpu-$label-drain.json 2>/dev/null
w_cpu=$(awk -v a=$(cpu $w1) -v b=$(cpu $w2) 'BEGIN { printf "%.2f", a + b }')
kill -TERM $ing $w1 $w2; wait $ing $w1 $w2 2>/dev/null
acks=$(python3 -c "import json; print(round(json.load(open('target/bench/cpu-$label.json'))['acks_per_sec']))")
drain=$(python3 -c "import json; r=json.load(open('target/bench/cpu-$label-drain.json')); print(round(r['applied']['apply_per_sec']), 'verify', 'ok' if r['verify']['rows_wrong']+r['verify']['outcome_count_wrong']+r['verify']['stored_not_applied']==0 else 'FAILED')")
if [ -n "${sink:-}" ]; then kill -TERM $sink; wait $sink 2>/dev/null; fi
echo "$label ingest_cpu_s=$ing_cpu acks/s=$acks workers_cpu_s=$w_cpu drain/s=$drain"
