# Set-up shared by the index benchmarks (benches/hnsw, benches/ivf): the
# pgvector peer, the Python venv, the private bench cluster. Sourced after
# scripts/lib.sh; each step is skipped when already done.

# bench_pgvector: makes sure pgvector is installed into PostgreSQL 15, building
# it from EMBER_PGVECTOR_SRC (its own default flags) when that is set and the
# installed version differs. Sets PGVECTOR_VERSION ("" when not installed).
bench_pgvector() {
    local ext_dir wanted
    ext_dir="$($PG_CONFIG --sharedir)/extension"
    PGVECTOR_VERSION="$(_bench_control_version "$ext_dir/vector.control")"
    if [ -n "${EMBER_PGVECTOR_SRC:-}" ]; then
        [ -f "$EMBER_PGVECTOR_SRC/vector.control" ] || { echo "EMBER_PGVECTOR_SRC=$EMBER_PGVECTOR_SRC is not a pgvector source tree" >&2; exit 1; }
        wanted="$(_bench_control_version "$EMBER_PGVECTOR_SRC/vector.control")"
        if [ "$PGVECTOR_VERSION" != "$wanted" ]; then
            say "building pgvector $wanted from $EMBER_PGVECTOR_SRC (its default flags) into PostgreSQL 15"
            make -C "$EMBER_PGVECTOR_SRC" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null
            make -C "$EMBER_PGVECTOR_SRC" install PG_CONFIG="$PG_CONFIG" >/dev/null
            PGVECTOR_VERSION="$wanted"
        fi
    fi
    if [ -n "$PGVECTOR_VERSION" ]; then
        say "pgvector $PGVECTOR_VERSION is installed"
    else
        say "pgvector is not installed and EMBER_PGVECTOR_SRC is unset: the pgvector columns are skipped" \
            "(export EMBER_PGVECTOR_SRC=/path/to/pgvector-source to build it; see benches/hnsw/README.md)"
    fi
}

_bench_control_version() { sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$1" 2>/dev/null || true; }

# bench_venv "MODULES" PIP_PACKAGE...: the venv at EMBER_BENCH_VENV (default
# .venv-bench in the checkout, shared by the benchmarks), with the packages
# installed when one of the MODULES (space-separated) does not import. Sets
# BENCH_PY.
bench_venv() {
    local modules="$1"; shift
    local venv="${EMBER_BENCH_VENV:-$EMBER_ROOT/.venv-bench}"
    if ! "$venv/bin/python" -c "import ${modules// /, }" 2>/dev/null; then
        say "installing $* into $venv"
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
        "$venv/bin/pip" install -q "$@"
    fi
    BENCH_PY="$venv/bin/python"
}

# bench_cluster DBNAME AMNAME: the private cluster `bench` on port 54317,
# shared by the benchmarks (benches/hnsw, benches/ivf, benches/maxsim_index):
# a cluster that is already running is used as it is (not restarted: another
# benchmark may be using it; new connections load the installed ember.so
# anyway), and at exit it is stopped only when this run started it and no
# other client is connected. Creates DBNAME, re-creates ember in it so that
# it has every object of the installed build, and says whether the access
# method AMNAME exists. Sets BENCH_HAVE_AM (1 or 0).
bench_cluster() {
    local db="$1" am="$2" cores ext_dir
    cores="$(nproc)"
    ext_dir="$($PG_CONFIG --sharedir)/extension"
    CLUSTER_DIR="$(cluster_base bench)"
    BENCH_STARTED_CLUSTER=0
    if [ -f "$CLUSTER_DIR/data/PG_VERSION" ] &&
       runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" status >/dev/null 2>&1; then
        say "the bench cluster (port 54317) is already running: using it as it is"
        export PGHOST="$CLUSTER_DIR/sock" PGPORT=54317 PGUSER=postgres
    else
        say "starting the bench cluster (port 54317, shared_buffers 2GB, $((cores > 1 ? cores - 1 : 0)) parallel maintenance worker(s) + leader)"
        cluster_start bench 54317 \
            "shared_buffers = 2GB" \
            "maintenance_work_mem = 2GB" \
            "max_parallel_maintenance_workers = $((cores > 1 ? cores - 1 : 0))" \
            "jit = off"
        BENCH_STARTED_CLUSTER=1
    fi
    trap _bench_stop_if_ours EXIT
    psql -X -q -d postgres -tc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
        psql -X -q -d postgres -c "CREATE DATABASE $db"
    # Re-create ember so the database has every object of the installed build
    # (a new access method appears with a new build, not with ALTER EXTENSION
    # at the same version).
    if [ -f "$ext_dir/ember.control" ]; then
        psql -X -q -d "$db" -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
            -c "DROP EXTENSION IF EXISTS ember CASCADE" -c "CREATE EXTENSION ember" ||
            say "warning: CREATE EXTENSION ember failed: only cached vectors and the peers can run"
    else
        say "warning: ember is not installed: only cached vectors and the peers can run"
    fi
    if [ "$(psql -X -d "$db" -Atc "SELECT count(*) FROM pg_am WHERE amname = '$am'")" = 1 ]; then
        say "$am is installed"
        BENCH_HAVE_AM=1
    else
        say "$am is not installed yet (ember's build has no such access method)"
        BENCH_HAVE_AM=0
    fi
    mkdir -p /var/tmp/ember-bench
}

# At exit: stops the bench cluster if this run started it and no other client
# is connected.
_bench_stop_if_ours() {
    [ "${BENCH_STARTED_CLUSTER:-0}" = 1 ] || return 0
    local others
    others="$(psql -X -d postgres -Atc "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()" 2>/dev/null || echo 0)"
    if [ "${others:-0}" = 0 ]; then
        cluster_stop
    else
        say "leaving the bench cluster running: $others other client(s) connected"
    fi
}
