#!/usr/bin/env bash
# Creates the fuzz corpus, fuzz/corpus/<target>/, from the repository's own
# material: Stripe fixture events, the Stripe-Signature test vectors, sample
# Supabase webhook payloads, and the regression inputs in fuzz/regressions/.
# The corpus is generated, not committed: run this before the first
# `cargo fuzz run`. It only adds or overwrites seed files, so inputs that
# libFuzzer added to the corpus stay.
set -euo pipefail
cd "$(dirname "$0")"

fixtures=../fixtures/stripe
corpus=corpus

mkdir -p "$corpus/envelope" "$corpus/signature_header" "$corpus/supabase_payload"

# envelope: every Stripe event fixture (MANIFEST.json lists edits; it is not an event).
for event in "$fixtures"/events/*.json; do
  [[ $(basename "$event") == MANIFEST.json ]] && continue
  cp "$event" "$corpus/envelope/$(basename "$event")"
done

# signature_header: the target reads the header, then optionally a NUL byte
# and the body. Each distinct header of signatures.json is written alone and
# with its payload.
python3 - "$fixtures" "$corpus/signature_header" <<'PY'
import json, pathlib, sys

fixtures, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
cases = json.loads((fixtures / "signatures.json").read_text())["cases"]
seen = set()
for case in cases:
    header = case["header"].encode()
    if case.get("payload_file"):
        body = (fixtures / case["payload_file"]).read_bytes()
    else:
        body = case["payload"].encode()
    for name, data in ((case["name"] + "-header", header),
                       (case["name"] + "-signed", header + b"\0" + body)):
        if data not in seen:
            seen.add(data)
            (out / name).write_bytes(data)
PY

# supabase_payload: what a Supabase database webhook posts, one of each kind.
cat > "$corpus/supabase_payload/auth-users-insert.json" <<'JSON'
{"type": "INSERT", "schema": "auth", "table": "users",
 "record": {"id": "5c1c0a6e-4b8f-4f0e-9a7d-2f3b9d1e8c42", "aud": "authenticated",
  "role": "authenticated", "email": "ada@example.com", "phone": null,
  "created_at": "2026-03-14T09:26:53.589793+00:00", "confirmed_at": null,
  "is_anonymous": false, "is_sso_user": false,
  "raw_app_meta_data": {"provider": "email", "providers": ["email"]},
  "raw_user_meta_data": {"sub": "5c1c0a6e-4b8f-4f0e-9a7d-2f3b9d1e8c42", "email_verified": false},
  "email_change_confirm_status": 0},
 "old_record": null}
JSON
cat > "$corpus/supabase_payload/public-organizations-update.json" <<'JSON'
{"type": "UPDATE", "schema": "public", "table": "organizations",
 "record": {"id": 7, "name": "Acme Ltd", "updated_at": "2026-03-14T09:30:00+00:00"},
 "old_record": {"id": 7, "name": "Acme", "updated_at": "2026-03-01T12:00:00+00:00"}}
JSON
cat > "$corpus/supabase_payload/auth-users-delete.json" <<'JSON'
{"type": "DELETE", "schema": "auth", "table": "users", "record": null,
 "old_record": {"id": "5c1c0a6e-4b8f-4f0e-9a7d-2f3b9d1e8c42", "email": "ada@example.com"}}
JSON

# Each target's regression inputs, so every run starts by replaying them.
for target in envelope signature_header supabase_payload; do
  for input in regressions/"$target"/*; do
    [[ -f $input ]] || continue
    cp "$input" "$corpus/$target/regression-$(basename "$input")"
  done
done

for target in envelope signature_header supabase_payload; do
  echo "fuzz/$corpus/$target: $(find "$corpus/$target" -type f | wc -l) files"
done
