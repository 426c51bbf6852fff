#!/usr/bin/env bash
# Index size and recall under updates: ember_hnsw against pgvector's hnsw
# (churn.py; see README.md here, "Updates and VACUUM").
#
#   benches/hnsw/churn.sh                        # 20,000 x 64, 10 rounds of 25%
#   benches/hnsw/churn.sh --rows 5000 --rounds 3 # a quick run
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/../common/bench.sh"

args=("$@")
cmdline="benches/hnsw/churn.sh${*:+ $*}"

bench_pgvector                              # pgvector: a peer, never part of the repo
[ -n "$PGVECTOR_VERSION" ] || args+=(--no-pgvector)
bench_venv "psycopg numpy" "psycopg[binary]>=3.1" numpy
bench_cluster hnsw_bench ember_hnsw         # the shared cluster on port 54317 (stopped on exit if this run started it)

"$BENCH_PY" "$(dirname "$0")/churn.py" --command "$cmdline" "${args[@]}"
