#!/usr/bin/env bash
# HNSW benchmark: ember_hnsw against pgvector (hnsw), hnswlib and faiss
# (IndexHNSWFlat) on ~117k WordNet gloss embeddings. See README.md here.
#
#   benches/hnsw/run.sh                  # every method (ember only if ember_hnsw exists)
#   benches/hnsw/run.sh --only peers     # pgvector, hnswlib, faiss, exact scan
#   benches/hnsw/run.sh --only ember     # ember_hnsw + its exact scan; peers from the last run
#   benches/hnsw/run.sh --rows 20000     # quick smoke run on a subsample
#   benches/hnsw/run.sh --dataset fashion-mnist   # second set (60k x 784, l2)
#
# Needs ember installed into PostgreSQL 15 (cargo pgrx install --release, or
# scripts/demo.sh) for the encoding, and the model files in place. pgvector
# is used when installed; otherwise it is built and installed from the source
# tree in EMBER_PGVECTOR_SRC, and skipped (with a message) when that is unset.
source "$(dirname "$0")/../../scripts/lib.sh"

args=("$@")
cmdline="benches/hnsw/run.sh${*:+ $*}"

# --- pgvector (a peer, never part of the repo) ------------------------------
ext_dir="$($PG_CONFIG --sharedir)/extension"
control_version() { sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$1" 2>/dev/null || true; }
installed="$(control_version "$ext_dir/vector.control")"
if [ -n "${EMBER_PGVECTOR_SRC:-}" ]; then
    [ -f "$EMBER_PGVECTOR_SRC/vector.control" ] || { echo "EMBER_PGVECTOR_SRC=$EMBER_PGVECTOR_SRC is not a pgvector source tree" >&2; exit 1; }
    wanted="$(control_version "$EMBER_PGVECTOR_SRC/vector.control")"
    if [ "$installed" != "$wanted" ]; then
        say "building pgvector $wanted from $EMBER_PGVECTOR_SRC (its default flags) into PostgreSQL 15"
        make -C "$EMBER_PGVECTOR_SRC" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null
        make -C "$EMBER_PGVECTOR_SRC" install PG_CONFIG="$PG_CONFIG" >/dev/null
        installed="$wanted"
    fi
fi
if [ -n "$installed" ]; then
    say "pgvector $installed is installed"
else
    say "pgvector is not installed and EMBER_PGVECTOR_SRC is unset: the pgvector columns are skipped" \
        "(export EMBER_PGVECTOR_SRC=/path/to/pgvector-source to build it; see benches/hnsw/README.md)"
    args+=(--no-pgvector)
fi

# --- Python: psycopg 3, numpy, hnswlib, faiss-cpu ---------------------------
venv="${EMBER_BENCH_VENV:-$EMBER_ROOT/.venv-bench}"
if ! "$venv/bin/python" -c "import psycopg, numpy, hnswlib, faiss" 2>/dev/null; then
    say "installing psycopg, numpy, hnswlib, faiss-cpu into $venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q "psycopg[binary]>=3.1" numpy hnswlib faiss-cpu
fi

# --- private cluster ----------------------------------------------------------
cores="$(nproc)"
say "starting the bench cluster (port 54317, shared_buffers 2GB, $((cores > 1 ? cores - 1 : 0)) parallel maintenance worker(s) + leader)"
cluster_start bench 54317 \
    "shared_buffers = 2GB" \
    "maintenance_work_mem = 2GB" \
    "max_parallel_maintenance_workers = $((cores > 1 ? cores - 1 : 0))" \
    "jit = off"
trap cluster_stop EXIT
psql -X -q -d postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'hnsw_bench'" | grep -q 1 ||
    psql -X -q -d postgres -c "CREATE DATABASE hnsw_bench"
# Re-create ember so the database has every object of the installed build
# (ember_hnsw appears with a new build, not with ALTER EXTENSION at the same version).
if [ -f "$ext_dir/ember.control" ]; then
    psql -X -q -d hnsw_bench -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
        -c "DROP EXTENSION IF EXISTS ember CASCADE" -c "CREATE EXTENSION ember" ||
        say "warning: CREATE EXTENSION ember failed: only cached vectors and the peers can run"
else
    say "warning: ember is not installed: only cached vectors and the peers can run"
fi
if [ "$(psql -X -d hnsw_bench -Atc "SELECT count(*) FROM pg_am WHERE amname = 'ember_hnsw'")" = 1 ]; then
    say "ember_hnsw is installed"
else
    say "ember_hnsw is not installed yet (ember's build has no such access method)"
fi

mkdir -p /var/tmp/ember-bench
"$venv/bin/python" "$(dirname "$0")/bench_hnsw.py" --model "$MODEL_PATH/all-MiniLM-L6-v2" \
    --command "$cmdline" "${args[@]}"
