#!/usr/bin/env bash
# shellcheck disable=SC2030,SC2031 # on_standby changes PGHOST/PGPORT in a subshell on purpose
# An ember_hnsw index on a streaming replica (with EMBER_AM=ivf, as
# ivf_replica.sh runs it: an ember_ivf index of 50 lists of SQ8 codes). A
# dedicated primary ("primary", port 54319; for ivf "primary_ivf", 54322;
# wal_consistency_checking = generic, so the standby checks every generic WAL
# record it replays) holds 5,000 rows and an index; a standby (port 54320;
# for ivf 54323) is made with pg_basebackup -R; then the primary inserts
# 1,000 rows, deletes 500 and VACUUMs, then inserts the values of 300
# deleted rows again, into the room VACUUM freed (ivf: the index does not
# grow; hnsw: it grows by at most 20 pages, for the new elements that find
# no freed element of their level; without taking the freed tuples over,
# the 300 would append them all).
# Once the standby has replayed everything: the top-10 of 20 queries (and a
# 50-row iterative scan; for ivf a 200-row one from one probe on) by index
# scan on the standby equal the primary's, and ember_hnsw_verify
# (ember_ivf_verify) passes on both. For hnsw the same holds for a 1,024-d
# table (100 inserts, deletes, VACUUM) whose index keeps each element and
# its neighbour tuple on two pages.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$here/../../scripts/lib.sh"
# shellcheck source=hnsw_lib.sh
source "$here/hnsw_lib.sh"

index_am_profile
case "$AM" in
    hnsw)
        primary=primary primary_port=54319 standby=standby standby_port=54320
        with="WITH (m = 16, ef_construction = 64)"
        top10="$HNSW_FORCE SET ember.hnsw_ef_search = 40; SET ember.iterative_scan = off;"
        deep_what="top-50 by an iterative scan (ef_search 20, relaxed_order)" deep_k=50
        deep="$HNSW_FORCE SET ember.hnsw_ef_search = 20; SET ember.iterative_scan = relaxed_order;"
        refill=300 refill_slack_pages=20 ;;
    ivf)
        primary=primary_ivf primary_port=54322 standby=standby_ivf standby_port=54323
        with="WITH (lists = 50)"
        top10="$HNSW_FORCE SET ember.ivf_probes = 10; SET ember.iterative_scan = off;"
        deep_what="top-200 by an iterative scan (1 probe at a time, relaxed_order)" deep_k=200
        deep="$HNSW_FORCE SET ember.ivf_probes = 1; SET ember.iterative_scan = relaxed_order;"
        refill=300 refill_slack_pages=0 ;;
esac
db="ember_${AM}_repl"
index="t_v_$AM"
CLUSTER_DIR=""  # set by cluster_start; never one inherited from the caller
primary_dir="$(cluster_base "$primary")"
standby_dir="$(cluster_base "$standby")"

# Leftovers of an earlier run: stop them and start from scratch.
for d in "$standby_dir" "$primary_dir"; do
    if [ -d "$d" ]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$d/data" -w -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$d"
    fi
done

pg_ctl_as_postgres() { runuser -u postgres -- env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "$PG_BIN/pg_ctl" "$@"; }
cleanup() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        for d in "$primary_dir" "$standby_dir"; do
            if [ -f "$d/server.log" ]; then echo "--- last lines of $d/server.log:" >&2; tail -30 "$d/server.log" >&2; fi
        done
        repeat_failure
    fi
    pg_ctl_as_postgres -D "$standby_dir/data" -w -m fast stop >/dev/null 2>&1 || true
    if [ -n "${CLUSTER_DIR:-}" ]; then cluster_stop; fi
    rm -rf "$standby_dir" "$primary_dir"
    exit "$status"
}
trap cleanup EXIT

# on_standby COMMAND...: runs COMMAND (a helper or psql) against the standby.
on_standby() { ( export PGHOST="$standby_dir/sock" PGPORT="$standby_port"; "$@" ); }

cluster_start "$primary" "$primary_port" "wal_level = replica" "max_wal_senders = 4" "hot_standby = on" \
    "wal_consistency_checking = 'generic'"
[ "$CLUSTER_DIR" = "$primary_dir" ] || fail "cluster_start put the primary in $CLUSTER_DIR, expected $primary_dir"
echo "primary: $CLUSTER_DIR, port $PGPORT"

hnsw_fresh_db "$db"
q -d "$db" <<SQL
CREATE TABLE t (id int PRIMARY KEY, v embedding(32));
INSERT INTO t SELECT i, hnsw_vec(i) FROM generate_series(1, 5000) i;
CREATE INDEX $index ON t USING $AM_NAME (v embedding_l2_ops) $with;
SQL
ok "primary: 5,000 rows and an $AM_NAME index $index"
# For hnsw, a second table of 1,024-d vectors, whose index puts each
# element and its coded neighbour tuple on two pages (two WAL records an
# insert): the standby must replay those into the same index.
wide=""
if [ "$AM" = hnsw ]; then
    wide=w
    hnsw_wide_table "$db" "$with"
fi

# The standby: a base backup with its own port and socket directory (its
# postgresql.conf, copied from the primary, includes the primary's
# ember.conf: point it at the standby's own).
mkdir -p "$standby_dir/sock"
chown -R postgres:postgres "$standby_dir"
chmod 700 "$standby_dir"
runuser -u postgres -- "$PG_BIN/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres -D "$standby_dir/data" \
    -R -X stream -c fast -C -S "ember_${AM}_standby"
cat > "$standby_dir/ember.conf" <<EOF
port = $standby_port
unix_socket_directories = '$standby_dir/sock'
listen_addresses = ''
fsync = off
hot_standby = on
EOF
chown postgres:postgres "$standby_dir/ember.conf"
runuser -u postgres -- sed -i "s|^include '.*ember\.conf'\$|include '$standby_dir/ember.conf'|" "$standby_dir/data/postgresql.conf"
grep -qx "include '$standby_dir/ember.conf'" "$standby_dir/data/postgresql.conf" ||
    fail "could not point the standby's postgresql.conf at $standby_dir/ember.conf"
[ -f "$standby_dir/data/standby.signal" ] || fail "pg_basebackup -R wrote no standby.signal"
pg_ctl_as_postgres -D "$standby_dir/data" -w -t 120 start -l "$standby_dir/server.log" >/dev/null
[ "$(on_standby qv -d "$db" -c "SELECT pg_is_in_recovery()")" = t ] || fail "the standby is not in recovery"
ok "standby started from a base backup on port $standby_port"

# Changes on the primary: 1,000 inserts (10 transactions), 500 deletes, VACUUM.
for b in $(seq 0 9); do
    q -d "$db" -c "INSERT INTO t SELECT i, hnsw_vec(i) FROM generate_series($((5001 + b * 100)), $((5100 + b * 100))) i"
done
deleted=$(qv -d "$db" -c "WITH d AS (DELETE FROM t WHERE id % 12 = 0 RETURNING id) SELECT count(*) FROM d")
[ "$deleted" = 500 ] || fail "deleted $deleted rows, expected 500"
q -d "$db" -c "VACUUM t"
# Inserts after VACUUM go into the room it freed. The values of 300
# deleted rows (new ids 12 i + 100001, no multiple of 12, which compare()
# takes for deleted): ember_ivf puts them in the lists they were deleted
# from, so the index does not grow; ember_hnsw frees a deleted element's
# tuples once it has repaired the graph around it, and a new element of
# the same level takes them over (one that finds none near the first
# freed page appends).
if [ "$refill" -gt 0 ]; then
    size=$(qv -d "$db" -c "SELECT pg_relation_size('$index')")
    for b in $(seq 0 $((refill / 100 - 1))); do
        q -d "$db" -c "INSERT INTO t SELECT 12 * i + 100001, hnsw_vec(12 * i) FROM generate_series($((b * 100 + 1)), $((b * 100 + 100))) i"
    done
    after=$(qv -d "$db" -c "SELECT pg_relation_size('$index')")
    [ "$after" -le $((size + refill_slack_pages * 8192)) ] ||
        fail "$index grew from $size to $after bytes when the values of $refill deleted rows were inserted again after VACUUM"
    ok "$refill rows inserted into the room VACUUM freed: $index grew by $(((after - size) / 8192)) pages"
fi
if [ -n "$wide" ]; then
    for b in 0 1; do
        q -d "$db" -c "INSERT INTO w SELECT i, hnsw_vec(i, 1024) FROM generate_series($((301 + b * 50)), $((350 + b * 50))) i"
    done
    q -d "$db" -c "DELETE FROM w WHERE id % 12 = 0" -c "VACUUM w"
    # New rows take over the freed two-page room (three WAL records each:
    # the claim, the lists, the element), replayed on the standby.
    size=$(qv -d "$db" -c "SELECT pg_relation_size('w_v')")
    # (No id a multiple of 12: the checks below take those for deleted.)
    q -d "$db" -c "INSERT INTO w SELECT i, hnsw_vec(i, 1024) FROM generate_series(401, 426) i WHERE i % 12 <> 0"
    after=$(qv -d "$db" -c "SELECT pg_relation_size('w_v')")
    # Appended, the 24 would take 48 pages. A new element above layer 0
    # (1 in 16, drawn at random) looks for a freed one of its level in 32
    # pages only and mostly appends two pages: 0 to 6 pages in runs of
    # this test, over 10 in about 1 run in 300 (6 or more of the 24 above
    # layer 0). Half of 48 still tells taking over from appending.
    [ "$after" -le $((size + 24 * 8192)) ] ||
        fail "w_v grew from $size to $after bytes when 24 rows were inserted after VACUUM freed 33 (48 pages if appended)"
    ok "24 rows of 1,024 dimensions took over freed two-page room: w_v grew by $(((after - size) / 8192)) pages"
fi
rows=$((5500 + refill))
lsn=$(qv -d "$db" -c "SELECT pg_current_wal_lsn()")
ok "primary: $((1000 + refill)) rows inserted, 500 deleted, VACUUM done, WAL at $lsn"

# Wait (up to 5 minutes) until the standby has replayed up to $lsn.
replayed=""
for _ in $(seq 1 600); do
    pg_ctl_as_postgres -D "$standby_dir/data" status >/dev/null 2>&1 || fail "the standby stopped while replaying (see its log below)"
    replayed=$(on_standby qv -d "$db" -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")
    [ "$replayed" = t ] && break
    sleep 0.5
done
[ "$replayed" = t ] ||
    fail "the standby has replayed only up to $(on_standby qv -d "$db" -c "SELECT pg_last_wal_replay_lsn()") after 5 minutes, expected $lsn"
if grep -q "inconsistent page" "$standby_dir/server.log"; then
    grep "inconsistent page" "$standby_dir/server.log" | head >&2; fail "the standby found inconsistent pages while replaying"
fi
ok "standby replayed up to $lsn, no inconsistent page"

on_primary() { "$@"; }
for side in primary standby; do
    n=$("on_$side" qv -d "$db" -c "SELECT count(*) FROM t")
    [ "$n" = "$rows" ] || fail "$side: t has $n rows, expected $rows"
    "on_$side" hnsw_expect_index "$db" "$index" "$HNSW_FORCE" \
        "$(hnsw_queries 1000001 1000020) SELECT k, ARRAY(SELECT id FROM t ORDER BY v <-> q LIMIT 10) FROM qs"
done

# The same searches, the same settings, on both sides: the same ids in the
# same order (the standby's index pages are the primary's, replayed).
compare() { # compare WHAT SETTINGS K
    local p s
    p=$(hnsw_topk "$db" "$2" t 1000001 1000020 "$3")
    s=$(on_standby hnsw_topk "$db" "$2" t 1000001 1000020 "$3")
    [ "$(wc -l <<<"$p")" = 20 ] || fail "primary: expected 20 result lines for $1, got: $p"
    if awk -F'|' -v k="$3" '{ gsub(/[{}]/, "", $2); if (split($2, a, ",") != k) bad = 1 } END { exit !bad }' <<<"$p"; then
        printf '%s\n' "$p" >&2; fail "primary: $1 did not return $3 ids for every query (above)"
    fi
    if awk -F'|' '{ gsub(/[{}]/, "", $2); n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] % 12 == 0) bad = 1 } END { exit !bad }' <<<"$p"; then
        printf '%s\n' "$p" >&2; fail "primary: $1 returned a deleted id (a multiple of 12, above)"
    fi
    if [ "$p" != "$s" ]; then
        diff <(printf '%s\n' "$p") <(printf '%s\n' "$s") | head -20 >&2
        fail "$1: the standby's results differ from the primary's (diff primary -> standby above)"
    fi
    ok "$1: the standby returns the primary's ids, in the same order, for 20 queries"
}
compare "top-10 by index scan" "$top10" 10
compare "$deep_what" "$deep" "$deep_k"

if [ -n "$wide" ]; then
    wide_top10="WITH qs AS MATERIALIZED (SELECT k, hnsw_vec(k, 1024) AS q FROM generate_series(1000001, 1000010) k)
        SELECT k, ARRAY(SELECT id FROM w ORDER BY v <-> q LIMIT 10) FROM qs ORDER BY k"
    hnsw_expect_index "$db" w_v "$HNSW_FORCE" "$wide_top10"
    p=$(qv -d "$db" -c "$top10" -c "$wide_top10")
    s=$(on_standby qv -d "$db" -c "$top10" -c "$wide_top10")
    [ "$(grep -c '^[0-9]*|{[0-9,]*}$' <<<"$p")" = 10 ] || fail "primary: expected 10 top-10 lines on w, got: $p"
    if awk -F'|' '{ gsub(/[{}]/, "", $2); n = split($2, a, ","); if (n != 10) bad = 1; for (i = 1; i <= n; i++) if (a[i] % 12 == 0) bad = 1 } END { exit !bad }' <<<"$p"; then
        printf '%s\n' "$p" >&2; fail "primary: a top-10 on w is short or holds a deleted id (a multiple of 12, above)"
    fi
    [ "$p" = "$s" ] || { diff <(printf '%s\n' "$p") <(printf '%s\n' "$s") | head -20 >&2; fail "w: the standby's top-10 differ from the primary's"; }
    hnsw_check_verify "$db" w_v w
    on_standby hnsw_check_verify "$db" w_v w
    ok "the 1,024-d index (two pages per element): the standby returns the primary's top-10 for 10 queries; verify passes on both"
fi
hnsw_check_verify "$db" "$index" t
on_standby hnsw_check_verify "$db" "$index" t
[ "$(on_standby qv -d "$db" -c "SELECT pg_is_in_recovery()")" = t ] || fail "the standby left recovery"
ok "${AM_NAME}_verify passes on the primary and, read-only, on the standby"

echo "$AM_NAME on a streaming replica: identical search results after inserts, deletes and VACUUM"
