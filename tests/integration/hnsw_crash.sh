#!/usr/bin/env bash
# Crash recovery of an ember_hnsw index (with EMBER_AM=ivf, as ivf_crash.sh
# runs it: of an ember_ivf index of 20 lists of SQ8 codes). A dedicated
# cluster ("crash", port 54318; for ivf "crash_ivf", port 54321; fsync on,
# every generic WAL record checked on replay by wal_consistency_checking)
# holds 2,000 rows and an index, then deletes half of them and VACUUMs (the
# inserts below take over the room it frees); a client inserts
# rows one transaction at a time and records each id only after its COMMIT
# returned; a CHECKPOINT happens in the middle; then the postmaster and all
# its processes are killed with SIGKILL. After crash recovery: every recorded
# id is in the table and is the top-1 of an index scan for its own vector
# (for ivf: reading only the list of the nearest centroid), ember_hnsw_verify
# (ember_ivf_verify) passes, and inserts and searches still work. For hnsw
# the client also inserts each id into a 1,024-d table, whose index keeps an
# element and its neighbour tuple on two pages: the same checks hold there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$here/../../scripts/lib.sh"
# shellcheck source=hnsw_lib.sh
source "$here/hnsw_lib.sh"

index_am_profile
case "$AM" in
    hnsw) cluster=crash port=54318 with="WITH (m = 16, ef_construction = 64)" ;;
    ivf) cluster=crash_ivf port=54321 with="WITH (lists = 20)" ;;
esac
db="ember_${AM}_crash"
index="t_v_$AM"
work="$(mktemp -d)"
inserter=""
CLUSTER_DIR=""  # set by cluster_start; never one inherited from the caller

dedicated_cluster_fresh "$cluster"
cleanup() {
    local status=$?
    if [ -n "$inserter" ]; then kill "$inserter" 2>/dev/null || true; fi
    dedicated_cluster_teardown "$status" crash
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

cluster_start "$cluster" "$port" "wal_level = replica" "fsync = on" "wal_consistency_checking = 'generic'"
echo "crash cluster: $CLUSTER_DIR, port $PGPORT, fsync on, wal_consistency_checking = generic"

hnsw_fresh_db "$db"
q -d "$db" <<SQL
CREATE TABLE t (id int PRIMARY KEY, v embedding(32));
INSERT INTO t SELECT i, hnsw_vec(i) FROM generate_series(1, 2000) i;
CREATE INDEX $index ON t USING $AM_NAME (v embedding_l2_ops) $with;
DELETE FROM t WHERE id % 2 = 0;
VACUUM t;
SQL
ok "2,000 rows and an $AM_NAME index $index; 1,000 of them deleted and VACUUMed, so inserts take over freed room"
# For hnsw, a second table of 1,024-d vectors: each element and its coded
# neighbour tuple take a page each, written by two WAL records, so the crash
# may fall between the two writes of an insert.
wide=""
if [ "$AM" = hnsw ]; then
    wide=w
    hnsw_wide_table "$db" "$with"
    # Half of it deleted and VACUUMed: the inserts cut by the crash take
    # over freed elements whose tuples are on two pages (claim, lists,
    # element: three WAL records).
    q -d "$db" -c "DELETE FROM w WHERE id % 2 = 0" -c "VACUUM w"
    ok "150 of w's rows deleted and VACUUMed: its inserts take over their two-page room"
fi

# The inserter: one autocommit INSERT per id, and `\echo id` only once the
# INSERT (and so its COMMIT, synchronous with fsync on) has returned.
# psql stops at the first failure (the server going away), so every recorded
# id was committed.
seq 2001 200000 | awk -v wide="$wide" '{
    print "INSERT INTO t VALUES (" $1 ", hnsw_vec(" $1 "));"
    if (wide != "") print "INSERT INTO w VALUES (" $1 ", hnsw_vec(" $1 ", 1024));"
    print "\\echo " $1 }' > "$work/insert.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f "$work/insert.sql" > "$work/committed.txt" 2> "$work/inserter.err" &
inserter=$!

# wait_rows N: waits (up to 60 s) until t has at least N rows.
wait_rows() {
    local n
    for _ in $(seq 1 120); do
        n=$(qv -d "$db" -c "SELECT count(*) FROM t")
        [ "$n" -ge "$1" ] && return 0
        kill -0 "$inserter" 2>/dev/null || { cat "$work/inserter.err" >&2; fail "the inserter stopped early"; }
        sleep 0.5
    done
    fail "t still has only $n rows after 60 s, expected at least $1"
}
wait_rows 1050
q -d "$db" -c "CHECKPOINT"
before=$(qv -d "$db" -c "SELECT count(*) FROM t")
wait_rows $((before + 50))
sleep 2

# Crash: SIGKILL the postmaster and every process it started, at once.
pm=$(head -1 "$CLUSTER_DIR/data/postmaster.pid")
children=$(pgrep -P "$pm" || true)
# shellcheck disable=SC2086 # one pid per word
kill -9 "$pm" $children
echo "killed the postmaster $pm and its processes $(tr '\n' ' ' <<<"$children")"
set +e; wait "$inserter"; status=$?; set -e
inserter=""
[ "$status" -ne 0 ] || fail "the inserter finished all its rows before the crash; nothing was in flight"
for pid in $pm $children; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then fail "process $pid is still alive 10 s after SIGKILL"; fi
done
committed=$(wc -l < "$work/committed.txt")
[ "$committed" -ge 50 ] || fail "only $committed inserts were recorded as committed before the crash, expected at least 50"
echo "the client recorded $committed committed inserts (ids 2001..$(tail -1 "$work/committed.txt")); its last words: $(tail -1 "$work/inserter.err")"

# Restart: the server runs crash recovery, replaying (and checking) the WAL.
log_size=$(stat -c %s "$CLUSTER_DIR/server.log")
runuser -u postgres -- env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -w -t 300 \
    start -l "$CLUSTER_DIR/server.log" >/dev/null || fail "the server did not come back after the crash (crash recovery failed?)"
recovery_log=$(tail -c +"$((log_size + 1))" "$CLUSTER_DIR/server.log")
grep -q "not properly shut down; automatic recovery in progress" <<<"$recovery_log" ||
    { printf '%s\n' "$recovery_log" >&2; fail "the restart did not run crash recovery (log above)"; }
grep -q "redo done at" <<<"$recovery_log" ||
    { printf '%s\n' "$recovery_log" >&2; fail "crash recovery did not replay any WAL (no 'redo done at' in the log above)"; }
if grep -Eq "inconsistent page|PANIC" <<<"$recovery_log"; then
    printf '%s\n' "$recovery_log" >&2; fail "crash recovery reported an inconsistent page or a PANIC (log above)"
fi
ok "crash recovery: $(grep -o 'redo starts at.*' <<<"$recovery_log" | head -1); $(grep -o 'redo done at [^ ]*' <<<"$recovery_log" | head -1); no inconsistent page"

# Every recorded id is there and found by an index scan for its own vector;
# so is every other row (the 1,000 initial ones left, and any commit the
# client did not hear about).
q -d "$db" -c "CREATE TABLE committed (id int PRIMARY KEY)" -c "\\copy committed FROM '$work/committed.txt'"
hnsw_self_lookup "$db" t "$index" "SELECT id FROM committed" "$AM_LOOKUP"
hnsw_self_lookup "$db" t "$index" "SELECT id FROM t" "$AM_LOOKUP"

# The insert cut short by the crash may have left an element whose heap
# tuple never committed: before VACUUM there may be more elements than rows.
rows=$(qv -d "$db" -c "SELECT count(*) FROM t")
n=$(hnsw_verify "$db" "$index")
[ "$n" -ge "$rows" ] || fail "${AM_NAME}_verify('$index') counts $n live elements after recovery, fewer than the $rows rows"
ok "${AM_NAME}_verify passes after recovery: $n elements for $rows rows"
q -d "$db" -c "VACUUM t"
hnsw_check_verify "$db" "$index" t
if [ -n "$wide" ]; then
    hnsw_self_lookup "$db" w w_v "SELECT id FROM committed" "$AM_LOOKUP"
    rows=$(qv -d "$db" -c "SELECT count(*) FROM w")
    n=$(hnsw_verify "$db" w_v)
    [ "$n" -ge "$rows" ] || fail "ember_hnsw_verify('w_v') counts $n live elements after recovery, fewer than the $rows rows"
    q -d "$db" -c "VACUUM w"
    hnsw_check_verify "$db" w_v w
    ok "the 1,024-d index after recovery: every committed row found by its own vector; verify passes ($rows rows)"
fi

# Inserts and searches still work after recovery.
q -d "$db" -c "INSERT INTO t SELECT i, hnsw_vec(i) FROM generate_series(300001, 300200) i"
for i in $(seq 300201 300220); do q -d "$db" -c "INSERT INTO t VALUES ($i, hnsw_vec($i))"; done
hnsw_self_lookup "$db" t "$index" "SELECT id FROM t WHERE id > 300000" "$AM_LOOKUP"
hnsw_expect_index "$db" "$index" "$HNSW_FORCE" "SELECT id FROM t ORDER BY v <-> hnsw_vec(1000001) LIMIT 10"
got=$(qv -d "$db" -c "$HNSW_FORCE" -c "SELECT count(*) FROM (SELECT id FROM t ORDER BY v <-> hnsw_vec(1000001) LIMIT 10) s")
[ "$got" = 10 ] || fail "a search after recovery returned $got rows, expected 10"
hnsw_check_verify "$db" "$index" t
ok "220 inserts and searches after recovery"

cluster_stop
echo "crash recovery of $AM_NAME: $committed committed inserts survived a SIGKILL of the server"
