#!/usr/bin/env bash
# Single-row INSERT latency: ember_hnsw against pgvector's hnsw and a table
# with no index (insert_latency.py; see README.md here, "Single-row INSERT
# latency").
#
#   benches/hnsw/insert_latency.sh                          # 20,000 x 384, 2,000 inserts
#   benches/hnsw/insert_latency.sh --dim 1536 --inserts 500 # wider values
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/../common/bench.sh"

args=("$@")
cmdline="benches/hnsw/insert_latency.sh${*:+ $*}"

bench_pgvector                              # pgvector: a peer, never part of the repo
[ -n "$PGVECTOR_VERSION" ] || args+=(--no-pgvector)
bench_venv "psycopg numpy" "psycopg[binary]>=3.1" numpy
bench_cluster hnsw_bench ember_hnsw         # the shared cluster on port 54317 (stopped on exit if this run started it)

"$BENCH_PY" "$(dirname "$0")/insert_latency.py" --command "$cmdline" "${args[@]}"
