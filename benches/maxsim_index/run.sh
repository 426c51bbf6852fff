#!/usr/bin/env bash
# MaxSim index benchmark: ember_ivf with multiembedding_maxsim_ops (`@#`)
# against the exact scan, on embed_tokens() token vectors of >= 20,000
# WordNet glosses: recall@10 and single-client QPS over ember.ivf_probes x
# ember.maxsim_candidates, build time and size. See README.md here.
#
#   benches/maxsim_index/run.sh                 # everything (20,000 docs, 100 queries)
#   benches/maxsim_index/run.sh --only exact    # data + exact scan (no opclass needed)
#   benches/maxsim_index/run.sh --passes 1      # one timed pass per point (default: the faster of 2)
#   benches/maxsim_index/run.sh --docs 2000 --queries 20 --dbname maxsim_smoke   # smoke run
#
# Needs ember installed into PostgreSQL 15 (scripts/demo.sh, or cargo pgrx
# install --release) with its models; the index part needs a build that has
# the multiembedding_maxsim_ops operator class. Uses the HNSW benchmark's
# venv (.venv-bench) and its WordNet loader, and the private bench cluster
# on port 54317 (database maxsim_bench), which other benchmarks share: a
# cluster that is already running is used as it is (not restarted), and the
# cluster is stopped at the end only when this script started it and no
# other client is connected.
source "$(dirname "$0")/../../scripts/lib.sh"

args=("$@")
cmdline="benches/maxsim_index/run.sh${*:+ $*}"

# --- WordNet (Debian wordnet-base) ------------------------------------------
if [ ! -f /usr/share/wordnet/data.noun ]; then
    say "apt-get install wordnet-base"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null
fi

# --- ember --------------------------------------------------------------------
if [ ! -f "$($PG_CONFIG --sharedir)/extension/ember.control" ] || [ ! -d "$MODEL_PATH/all-MiniLM-L6-v2" ]; then
    echo "ember (or its model all-MiniLM-L6-v2) is not installed into PostgreSQL 15: run scripts/demo.sh," \
         "or cargo pgrx install --release --pg-config $PG_CONFIG and crates/encoder/install_models.sh" >&2
    exit 1
fi

# --- Python: the benchmarks' venv with psycopg 3 and numpy ------------------
venv="${EMBER_BENCH_VENV:-$EMBER_ROOT/.venv-bench}"
if ! "$venv/bin/python" -c "import psycopg, numpy" 2>/dev/null; then
    say "installing psycopg, numpy into $venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q "psycopg[binary]>=3.1" numpy
fi

# --- the bench cluster (shared with benches/hnsw and benches/ivf) -----------
mkdir -p /var/tmp/ember-bench
CLUSTER_DIR="$(cluster_base bench)"
marker=/var/tmp/ember-bench/maxsim-started-cluster
rm -f "$marker"
if [ -f "$CLUSTER_DIR/data/PG_VERSION" ] &&
   runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" status >/dev/null 2>&1; then
    say "the bench cluster (port 54317) is already running: using it as it is"
    export PGHOST="$CLUSTER_DIR/sock" PGPORT=54317 PGUSER=postgres
else
    cores="$(nproc)"
    say "starting the bench cluster (port 54317, shared_buffers 2GB, $((cores > 1 ? cores - 1 : 0)) parallel maintenance worker(s) + leader)"
    cluster_start bench 54317 \
        "shared_buffers = 2GB" \
        "maintenance_work_mem = 2GB" \
        "max_parallel_maintenance_workers = $((cores > 1 ? cores - 1 : 0))" \
        "jit = off"
    echo started > "$marker"
fi
export CLUSTER_DIR

# Stops the cluster if this run started it (or restarted it after another
# run stopped it) and nobody else is connected.
stop_if_ours() {
    [ -f "$marker" ] || return 0
    rm -f "$marker"
    local others
    others="$(psql -X -d postgres -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" 2>/dev/null || echo 0)"
    if [ "${others:-0}" = 0 ]; then
        cluster_stop
    else
        say "leaving the bench cluster running: $others other client(s) connected"
    fi
}
trap stop_if_ours EXIT

"$venv/bin/python" "$(dirname "$0")/bench_maxsim_index.py" --model "$MODEL_PATH/all-MiniLM-L6-v2" \
    --command "$cmdline" "${args[@]}"
