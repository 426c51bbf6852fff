#!/usr/bin/env bash
# Encoder benchmark: ember's embed() in PostgreSQL against
# sentence-transformers (PyTorch, CPU) on the same machine in the same run.
# Needs the extension installed and models in place (./scripts/demo.sh does
# both). Writes benches/results/encoder.md.
source "$(dirname "$0")/../../scripts/lib.sh"

venv="${EMBER_BENCH_VENV:-$EMBER_ROOT/.venv-bench}"
if ! "$venv/bin/python" -c "import sentence_transformers, psycopg" 2>/dev/null; then
    say "creating $venv with sentence-transformers (PyTorch CPU) and psycopg"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q sentence-transformers "psycopg[binary]"
fi

cluster_start bench 54317
psql -X -q -d postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'ember_bench'" | grep -q 1 ||
    psql -X -q -d postgres -c "CREATE DATABASE ember_bench"
psql -X -q -d ember_bench -c "DROP EXTENSION IF EXISTS ember CASCADE" -c "CREATE EXTENSION ember"

# 2,000 real sentences: WordNet noun glosses (every 40th synset).
corpus="$(mktemp)"; trap 'rm -f "$corpus"' EXIT
grep -v '^  ' /usr/share/wordnet/data.noun |
    awk 'NR % 40 == 7 && n < 2000 { split($0, p, " [|] "); g = p[2]; sub(/ +$/, "", g); print g; n++ }' > "$corpus"

"$venv/bin/python" "$(dirname "$0")/bench_encoder.py" --corpus "$corpus" --model "$MODEL_PATH/all-MiniLM-L6-v2" \
    --out "$EMBER_ROOT/benches/results/encoder.md"
cluster_stop
