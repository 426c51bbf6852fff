#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs dependencies, runs the
# pure crates' unit and property tests, builds and installs ember, starts a
# private test cluster (.ember/test, port 54316) and runs the SQL regression
# suite, the integration tests and the Python client tests.
source "$(dirname "$0")/lib.sh"

passed=0; failed=0; failures=()
record() { # record NAME STATUS
    if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "--- PASS: $1";
    else failed=$((failed + 1)); failures+=("$1"); echo "--- FAIL: $1"; fi
}
run() { # run NAME COMMAND...: runs a suite, records its outcome, carries on
    local name="$1"; shift
    say "$name"
    set +e; "$@"; local status=$?; set -e
    record "$name" "$status"
}

ember_setup
ember_venv
ember_models

run "rust unit and property tests (pure crates)" \
    env EMBER_MODEL_PATH="$MODEL_PATH" cargo test --release --manifest-path "$EMBER_ROOT/Cargo.toml" \
        -p ember-vectors -p ember-distance -p ember-encoder -p ember-pagestore -p ember-hnsw -p ember-quantize -p ember-ivf
run "rust unit tests of the extension's pure glue (opclass metrics)" \
    cargo test --release --manifest-path "$EMBER_ROOT/Cargo.toml" -p ember --lib

ember_install
say "starting the test cluster"
# No autovacuum: an auto-ANALYZE holds a snapshot that keeps a test's own
# VACUUM from removing dead rows (the expected index entry counts then differ),
# and it can change the plans EXPLAIN shows. Every test VACUUMs explicitly.
cluster_start test 54316 "wal_level = replica" "max_wal_senders = 4" "autovacuum = off"

regress() {
    local out="$CARGO_TARGET_DIR/regress"
    rm -rf "$out"; mkdir -p "$out"
    "$($PG_CONFIG --pgxs | xargs dirname)/../test/regress/pg_regress" \
        --inputdir="$EMBER_ROOT/tests/regress" --outputdir="$out" \
        --schedule="$EMBER_ROOT/tests/regress/schedule" \
        --host="$PGHOST" --port="$PGPORT" --user=postgres --dbname=ember_regress \
        || { cat "$out/regression.diffs" 2>/dev/null | head -200; return 1; }
}
run "SQL regression tests (pg_regress)" regress

for t in "$EMBER_ROOT"/tests/integration/*.sh; do
    case "$t" in *_lib.sh) continue ;; esac  # shared helpers, not a test
    run "integration: $(basename "$t" .sh)" bash "$t"
done

run "python clients (psycopg 3, SQLAlchemy 2)" \
    "$VENV_PY" -m pytest -q "$EMBER_ROOT/tests/python"

cluster_stop
echo
for f in "${failures[@]+"${failures[@]}"}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
