#!/usr/bin/env bash
# Model directories that are missing files or hold corrupt weights give a
# clear ERROR with a SQLSTATE (never a crash); a replaced model is picked up
# by a backend that already cached the old one.
set -euo pipefail
src="${EMBER_MODEL_PATH:-$(/usr/lib/postgresql/15/bin/pg_config --sharedir)/ember/models}/all-MiniLM-L6-v2"
models="$(mktemp -d)"; trap 'rm -rf "$models"' EXIT
chmod 755 "$models"
export PGOPTIONS="-c client_min_messages=warning"

mkdir "$models/no-tokenizer" "$models/corrupt" "$models/truncated"
cp "$src/config.json" "$src/model.safetensors" "$models/no-tokenizer/"
cp "$src/config.json" "$src/tokenizer.json" "$models/corrupt/"
head -c 5000 /dev/urandom > "$models/corrupt/model.safetensors"
cp "$src/config.json" "$src/tokenizer.json" "$models/truncated/"
head -c 1000000 "$src/model.safetensors" > "$models/truncated/model.safetensors"
cp -r "$src" "$models/minilm"
chmod -R a+rX "$models"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ember_models" -c "CREATE DATABASE ember_models"
psql -X -q -d ember_models -c "CREATE EXTENSION ember"
psql -X -q -d ember_models -c "CREATE FUNCTION sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS \$\$
    BEGIN EXECUTE q; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END \$\$"

check() { # check MODEL EXPECTED_SQLSTATE
    local got
    got=$(psql -X -At -d ember_models -c "SET ember.model_path = '$models'" \
        -c "SELECT sqlstate_of(\$\$SELECT embed('x', '$1')\$\$)" | tail -1)
    [ "$got" = "$2" ] || { echo "model $1: expected SQLSTATE $2, got $got"; exit 1; }
    echo "model $1: SQLSTATE $got"
}
check no-tokenizer 58P01
check corrupt XX001
check truncated XX001
check minilm ok

# One backend: cache the model, replace its weights with corrupt ones (as a
# new directory renamed over the old one), and the next call sees the change.
out=$(psql -X -q -At -d ember_models -c "SET ember.model_path = '$models'" \
    -c "SELECT dims(embed('x', 'minilm'))" \
    -c "\\! cp -r '$models/corrupt' '$models/minilm.new' && rm -rf '$models/minilm' && mv '$models/minilm.new' '$models/minilm'" \
    -c "SELECT sqlstate_of(\$\$SELECT embed('x', 'minilm')\$\$)")
[ "$(echo "$out" | tr '\n' ' ')" = "384 XX001 " ] || { echo "reload check failed: $out"; exit 1; }
echo "a replaced model directory is reloaded: $out" | tr '\n' ' '; echo
psql -X -q -d postgres -c "DROP DATABASE ember_models"
