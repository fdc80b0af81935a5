#!/usr/bin/env bash
# Soak: load with duplicates and shuffled order while workers are SIGKILLed
# and PostgreSQL crashes and comes back; then prove nothing was lost or
# applied wrongly (`tether bench --verify`) and that ingest and the workers
# recovered by themselves.
#
#   tests/soak.sh            ten minutes, release build, a worker killed every
#                            30 s, PostgreSQL crashed twice
#   tests/soak.sh --short    one minute, debug build, one kill, one crash (CI)
#
# Everything runs on loopback against a private PostgreSQL cluster made with
# initdb in a temporary folder on its own port, so crashing it disturbs
# nothing else. Override with SOAK_SECS, SOAK_RATE, SOAK_PG_PORT, SOAK_HTTP_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
[[ "${1:-}" == "--short" ]] && mode=short

if [[ $mode == short ]]; then
  secs=${SOAK_SECS:-60}; rate=${SOAK_RATE:-400}; kill_every=${SOAK_KILL_EVERY:-25}
  crashes_at=(35); profile=dev; bin=target/debug/tether
else
  secs=${SOAK_SECS:-600}; rate=${SOAK_RATE:-2000}; kill_every=${SOAK_KILL_EVERY:-30}
  crashes_at=(200 400); profile=release; bin=target/release/tether
fi
pg_port=${SOAK_PG_PORT:-55432}
http_port=${SOAK_HTTP_PORT:-18080}

say() { echo "soak: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

cargo build --profile "$profile" --bin tether --quiet

pg_bin=$(pg_config --bindir 2>/dev/null || true)
[[ -x "$pg_bin/initdb" ]] || pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[[ -x "$pg_bin/initdb" ]] || fail "initdb not found (install PostgreSQL's server binaries)"

work=$(mktemp -d /tmp/tether-soak.XXXXXX)
chmod 755 "$work"
# PostgreSQL refuses to run as root: run the private cluster as `postgres`.
as_pg() { if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $EUID -eq 0 ]] && chown postgres "$work"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  as_pg "$pg_bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  if [[ ${SOAK_KEEP:-0} == 1 ]]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

pg_up() {
  as_pg "$pg_bin/pg_ctl" -D "$work/data" -l "$work/postgres.log" -w \
    -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
}
pg_crash() { as_pg "$pg_bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null; }

say "private PostgreSQL on 127.0.0.1:$pg_port in $work"
as_pg "$pg_bin/initdb" -D "$work/data" -A trust -U postgres >/dev/null
pg_up

export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/tether"
export STRIPE_WEBHOOK_SECRET=whsec_soak_secret
export TETHER_LISTEN="127.0.0.1:$http_port"
export TETHER_ORPHAN_AFTER_SECS=3
export TETHER_LOG_FORMAT=json
export RUST_LOG=warn
"$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -qc "CREATE DATABASE tether" >/dev/null
"$bin" migrate >/dev/null

"$bin" ingest >"$work/ingest.log" 2>&1 &
ingest_pid=$!; pids+=("$ingest_pid")
# Disowned, so bash does not report each SIGKILL as a job that died.
start_worker() { "$bin" worker >>"$work/worker-$1.log" 2>&1 & worker_pid[$1]=$!; disown "$!"; pids+=("${worker_pid[$1]}"); }
declare -a worker_pid
start_worker 0
start_worker 1
for _ in $(seq 1 50); do curl -fs "http://$TETHER_LISTEN/healthz" >/dev/null && break; sleep 0.1; done

say "$mode run: ${secs}s at ${rate} events/s, a worker SIGKILLed every ${kill_every}s, PostgreSQL crashed at ${crashes_at[*]}s"
"$bin" bench --url "http://$TETHER_LISTEN/webhooks/stripe" --duration "$secs" --rate "$rate" \
  --connections 32 --objects 300 --duplicates 0.05 --reorder 0.3 --redeliver \
  --verify --wait-timeout 180 --json >"$work/bench.json" 2>"$work/bench.err" &
bench_pid=$!; pids+=("$bench_pid")

started=$SECONDS
next_kill=$kill_every
crash=0
victim=0
while kill -0 "$bench_pid" 2>/dev/null; do
  elapsed=$((SECONDS - started))
  if (( elapsed >= next_kill && elapsed < secs )); then
    say "${elapsed}s: SIGKILL worker $victim (pid ${worker_pid[$victim]}) and start a new one"
    kill -9 "${worker_pid[$victim]}" || true
    start_worker "$victim"
    victim=$((1 - victim)); next_kill=$((next_kill + kill_every))
  fi
  if (( crash < ${#crashes_at[@]} && elapsed >= crashes_at[crash] )); then
    say "${elapsed}s: crash PostgreSQL (immediate stop), down for 5 s"
    pg_crash
    sleep 5
    pg_up
    say "$((SECONDS - started))s: PostgreSQL is back"
    crash=$((crash + 1))
  fi
  sleep 0.5
done

bench_status=0
wait "$bench_pid" || bench_status=$?
cat "$work/bench.json" >&2 || true
[[ -s "$work/bench.json" ]] || { tail -20 "$work/bench.err" >&2; fail "bench printed no report"; }

check() {
  python3 - "$work/bench.json" "$@" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
v = r.get("verify") or {}
problems = []
if not v:
    problems.append("no verification ran")
for key in ("acked_not_stored", "stored_not_applied", "outcome_count_wrong", "dead", "rows_wrong"):
    if v.get(key, 1) != 0:
        problems.append(f"{key} = {v.get(key)}")
if r.get("events_unacked", 1) != 0:
    problems.append(f"{r.get('events_unacked')} events never acknowledged despite redelivery")
if int(r["statuses"].get("503", 0)) == 0:
    problems.append("ingest never answered 503, so the database outage was not observed")
bad = {s: n for s, n in r["statuses"].items() if s not in ("200", "503")}
if bad:
    problems.append(f"unexpected statuses {bad}")
print(f"soak: {r['events']} events, {r['requests']} requests, statuses {r['statuses']}, "
      f"{v.get('objects_checked')} objects verified", file=sys.stderr)
if problems:
    print("soak: FAILED: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
PY
}
check || fail "see above; logs in $work (SOAK_KEEP=1 keeps them)"
(( bench_status == 0 )) || fail "bench exited $bench_status: $(tail -1 "$work/bench.err")"

kill -0 "$ingest_pid" 2>/dev/null || fail "ingest died"
curl -fs "http://$TETHER_LISTEN/readyz" >/dev/null || fail "ingest is not ready after the outage"
for i in 0 1; do kill -0 "${worker_pid[$i]}" 2>/dev/null || fail "worker $i died"; done
grep -q '"level":"ERROR"' "$work/ingest.log" || fail "ingest logged no error during the outage (was it observed?)"
say "passed: every acknowledged event applied once, tables match, ingest and workers recovered by themselves"
