#!/usr/bin/env bash
# Index scans while their pages are evicted all the time. A backend
# remembers the shared buffer each index page was last found in and pins it
# there when the buffer still holds that page (src/storage/recent.rs); this
# test makes the remembered buffers go stale. A dedicated cluster ("evict",
# port 54324) with shared_buffers = 1MB (128 buffers) holds an ember_hnsw
# and an ember_ivf index (on two copies of 4,000 rows of 64 dimensions),
# each bigger than shared_buffers: every scan evicts pages the same backend read a moment ago,
# and their buffers then hold other pages. In one session, 40 queries per
# index (each top-10 ids and distances); then each query again in a new
# session, which remembers nothing and reads every page through the buffer
# mapping. The two must agree row for row, the ember_ivf scan (every list,
# full values) must equal the exact scan, both indexes pass their verifier,
# and pg_statio must show index pages read back in (evicted) during the
# long session.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../../scripts/lib.sh
source "$here/../../scripts/lib.sh"
# shellcheck source=hnsw_lib.sh
source "$here/hnsw_lib.sh"

db=ember_evict
work="$(mktemp -d)"
CLUSTER_DIR=""  # set by cluster_start; never one inherited from the caller

dedicated_cluster_fresh evict
cleanup() {
    local status=$?
    dedicated_cluster_teardown "$status" evict
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT

cluster_start evict 54324 "shared_buffers = 1MB" "max_connections = 20" "autovacuum = off"
echo "evict cluster: $CLUSTER_DIR, port $PGPORT, shared_buffers = 1MB"

hnsw_fresh_db "$db"
q -d "$db" <<'SQL'
CREATE TABLE t_hnsw (id int PRIMARY KEY, v embedding(64));
INSERT INTO t_hnsw SELECT i, cluster_vec(i, 64) FROM generate_series(1, 4000) i;
CREATE TABLE t_ivf AS SELECT * FROM t_hnsw;
CREATE INDEX i_hnsw ON t_hnsw USING ember_hnsw (v embedding_l2_ops);
CREATE INDEX i_ivf ON t_ivf USING ember_ivf (v embedding_l2_ops) WITH (lists = 20, storage = full);
CREATE TABLE qs AS SELECT k, cluster_vec(k, 64) AS q FROM generate_series(1000001, 1000040) k;
VACUUM ANALYZE t_hnsw, t_ivf, qs;
SQL

for am in hnsw ivf; do
    pages=$(qv -d "$db" -c "SELECT pg_relation_size('i_$am') / 8192")
    [ "$pages" -gt 128 ] || fail "i_$am has $pages pages; the test needs more than the 128 shared buffers"
    hnsw_check_verify "$db" "i_$am" "t_$am"
    hnsw_expect_index "$db" "i_$am" "SET enable_seqscan = off" \
        "SELECT id FROM t_$am ORDER BY v <-> (SELECT q FROM qs WHERE k = 1000001) LIMIT 10"
done
ok "both indexes outgrow shared_buffers, pass their verifier and are used"

# top10 TABLE K [exact]: one query's top-10 as "k|id|distance" lines, by the
# table's index (every list of the ivf one) or by the exact scan.
top10() {
    local settings="SET enable_seqscan = off; SET ember.hnsw_ef_search = 40; SET ember.ivf_probes = 20;"
    [ "${3:-}" = exact ] && settings="SET enable_indexscan = off;"
    local q="(SELECT q FROM qs WHERE k = $2)"
    echo "$settings SELECT $2, id, round((v <-> $q)::numeric, 5) FROM $1 ORDER BY v <-> $q LIMIT 10;"
}

# Index pages this index read from outside shared_buffers so far.
blocks_read() {
    qv -d "$db" -c "SELECT idx_blks_read FROM pg_statio_user_indexes WHERE indexrelname = '$1'"
}

queries=$(seq 1000001 1000040)
for am in hnsw ivf; do
    before=$(blocks_read "i_$am")
    {
        for k in $queries; do top10 "t_$am" "$k"; done
        # Statistics reach pg_statio when the backend goes idle after this.
        echo 'SELECT pg_stat_force_next_flush() \g /dev/null'
        echo 'SELECT 1 \g /dev/null'
    } | qv -d "$db" >"$work/$am.one_session"
    after=$(blocks_read "i_$am")
    [ "$after" -gt "$before" ] || fail "i_$am: no index page was read back in during the session (idx_blks_read $before -> $after)"
    : >"$work/$am.fresh"
    for k in $queries; do top10 "t_$am" "$k" | qv -d "$db" >>"$work/$am.fresh"; done
    lines=$(wc -l <"$work/$am.one_session")
    [ "$lines" -eq 400 ] || fail "i_$am: the session returned $lines rows, expected 400"
    diff -u "$work/$am.fresh" "$work/$am.one_session" >&2 ||
        fail "i_$am: scans in one long session differ from the same scans in fresh sessions"
    ok "i_$am: 40 scans in one session (index pages read back in: $((after - before))) equal the same scans in fresh sessions"
done

for k in $queries; do top10 t_ivf "$k" exact; done | qv -d "$db" >"$work/exact"
diff -u "$work/exact" "$work/ivf.one_session" >&2 || fail "i_ivf scans reading every list differ from the exact scan"
ok "i_ivf scans reading every list equal the exact scan"
for am in hnsw ivf; do hnsw_check_verify "$db" "i_$am" "t_$am"; done
ok "both indexes still pass their verifier"
