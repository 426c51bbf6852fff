#!/usr/bin/env bash
# IVF benchmark: ember_ivf (storage = sq8 and storage = full) against
# pgvector's ivfflat and faiss IndexIVFFlat / IndexIVFScalarQuantizer (8 bit),
# same lists, same queries, same ground truth, same run. See README.md here.
#
#   benches/ivf/run.sh                            # WordNet gloss embeddings (116k x 384, cosine)
#   benches/ivf/run.sh --dataset fashion-mnist    # Fashion-MNIST (60k x 784, l2)
#   benches/ivf/run.sh --rows 20000               # quick smoke run on a subsample
#   benches/ivf/run.sh --only peers|ember         # pgvector + faiss only / ember only (peers from the last run)
#
# Shares the HNSW benchmark's set-up (benches/common/bench.sh: pgvector from
# EMBER_PGVECTOR_SRC, the .venv-bench venv, the private cluster on port
# 54317) and its data sets and caches (bench_ivf.py imports bench_hnsw.py).
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/../common/bench.sh"

args=("$@")
cmdline="benches/ivf/run.sh${*:+ $*}"

bench_pgvector                              # pgvector: a peer, never part of the repo
[ -n "$PGVECTOR_VERSION" ] || args+=(--no-pgvector)
bench_venv "psycopg numpy faiss" "psycopg[binary]>=3.1" numpy faiss-cpu
bench_cluster ivf_bench ember_ivf           # the shared cluster on port 54317 (stopped on exit if this run started it)

"$BENCH_PY" "$(dirname "$0")/bench_ivf.py" --model "$MODEL_PATH/all-MiniLM-L6-v2" \
    --command "$cmdline" "${args[@]}"
