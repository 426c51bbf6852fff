#!/usr/bin/env bash
# HNSW benchmark: ember_hnsw against pgvector (hnsw), hnswlib and faiss
# (IndexHNSWFlat) on ~117k WordNet gloss embeddings. See README.md here.
#
#   benches/hnsw/run.sh                  # every method (ember only if ember_hnsw exists)
#   benches/hnsw/run.sh --only peers     # pgvector, hnswlib, faiss, exact scan
#   benches/hnsw/run.sh --only ember     # ember_hnsw + its exact scan; peers from the last run
#   benches/hnsw/run.sh --rows 20000     # quick smoke run on a subsample
#   benches/hnsw/run.sh --dataset fashion-mnist   # second set (60k x 784, l2)
#   benches/hnsw/run.sh --project 128    # WordNet on its 128 principal axes (a real 128-d set)
#   benches/hnsw/churn.sh                # index size and recall under UPDATE + VACUUM rounds
#
# Needs ember installed into PostgreSQL 15 (cargo pgrx install --release, or
# scripts/demo.sh) for the encoding, and the model files in place. pgvector
# is used when installed; otherwise it is built and installed from the source
# tree in EMBER_PGVECTOR_SRC, and skipped (with a message) when that is unset.
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/../common/bench.sh"

args=("$@")
cmdline="benches/hnsw/run.sh${*:+ $*}"

bench_pgvector                              # pgvector: a peer, never part of the repo
[ -n "$PGVECTOR_VERSION" ] || args+=(--no-pgvector)
bench_venv "psycopg numpy hnswlib faiss" "psycopg[binary]>=3.1" numpy hnswlib faiss-cpu
bench_cluster hnsw_bench ember_hnsw         # the shared cluster on port 54317 (stopped on exit if this run started it)

"$BENCH_PY" "$(dirname "$0")/bench_hnsw.py" --model "$MODEL_PATH/all-MiniLM-L6-v2" \
    --command "$cmdline" "${args[@]}"
