#!/usr/bin/env bash
# Shared helpers for the index integration tests (tests/integration/hnsw_*.sh
# and ivf_*.sh): psql wrappers, a deterministic vector generator in SQL, and
# checks that a plan uses an index, that ember_hnsw_verify (or, for an
# ember_ivf index, ember_ivf_verify) passes, that every row is found by an
# index scan for its own vector, and recall against the exact answer. Nothing
# here depends on the access method except the verify function's name.
#
# hnsw_crash.sh, hnsw_replica.sh and hnsw_concurrency.sh test ember_hnsw, or
# ember_ivf when EMBER_AM=ivf (ivf_crash.sh and friends run them so).
#
# scripts/test.sh runs every tests/integration/*.sh, this file included; run
# directly it only says so and succeeds.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    echo "hnsw_lib.sh holds helpers for the hnsw_*.sh and ivf_*.sh tests; nothing to run"
    exit 0
fi
set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
export PGOPTIONS="-c client_min_messages=warning"

# Settings that make the planner take the ember_hnsw (or ember_ivf) index for
# `ORDER BY v <op> q LIMIT k`: besides a sequential scan, a full scan of the
# primary key plus a top-N sort is the other way to answer it.
HNSW_FORCE="SET enable_seqscan = off; SET enable_sort = off;"
# Settings that keep every index out, for the exact answer.
HNSW_EXACT="SET enable_indexscan = off; SET enable_bitmapscan = off;"

# A failure's reason is kept (fail's message, or the line of a command that
# stopped the script under set -e) so that a teardown can say it again after
# the server logs it prints, where a CI excerpt of the output's tail shows it.
fail() { FAILED_WITH="$*"; echo "FAIL: $*" >&2; exit 1; }
trap 'FAILED_WITH="${FAILED_WITH:-line $LINENO: $BASH_COMMAND}"' ERR
repeat_failure() { [ -z "${FAILED_WITH:-}" ] || echo "FAIL (said again after the logs above): $FAILED_WITH" >&2; }
ok() { echo "ok: $*"; }
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
qv() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }  # values only, '|' between columns

# index_am_profile: for the scripts that test either access method
# (hnsw_crash.sh, hnsw_replica.sh, hnsw_concurrency.sh; the ivf_*.sh of the
# same names run them with EMBER_AM=ivf), from EMBER_AM (hnsw, the default,
# or ivf) sets AM (hnsw or ivf), AM_NAME (ember_hnsw or ember_ivf) and
# AM_LOOKUP: the settings for hnsw_self_lookup. For ember_ivf that is a
# single probe: a row is in the list of the centroid nearest to its value
# (where the build and inserts put it), and a scan for that value reads
# that list first.
index_am_profile() {
    AM="${EMBER_AM:-hnsw}"
    case "$AM" in
        hnsw) AM_LOOKUP="$HNSW_FORCE SET ember.hnsw_ef_search = 100;" ;;
        ivf) AM_LOOKUP="$HNSW_FORCE SET ember.ivf_probes = 1; SET ember.iterative_scan = off;" ;;
        *) fail "EMBER_AM is '$AM', expected hnsw or ivf" ;;
    esac
    AM_NAME="ember_$AM"
}

# hnsw_vec(i [, dims]): a deterministic pseudo-random vector with elements in
# [-1, 1), distinct for every i (the fract(sin(x) * 43758.5453) hash).
# Table rows use small i; query vectors use i > 1,000,000, so no query
# equals a row. (sin(32 i + j) is not used: every such vector lies in the
# plane spanned by cos(j) and sin(j), a degenerate data set for a graph.)
# array_agg(... ORDER BY j), not ARRAY(SELECT ... ORDER BY j): the latter
# plans a Sort node, and under enable_sort = off each call takes ~40 ms.
# shellcheck disable=SC2016 # the $$ are SQL's
HNSW_VEC_SQL='CREATE OR REPLACE FUNCTION hnsw_vec(i bigint, dims int DEFAULT 32) RETURNS embedding
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT array_agg((x - floor(x)) * 2 - 1 ORDER BY j)::embedding
    FROM (SELECT j, sin(i * 12.9898::float8 + j * 78.233::float8) * 43758.5453::float8 AS x
          FROM generate_series(1, dims) j) s
$$'

# hnsw_queries FROM TO: a WITH clause naming the query vectors qs(k, q),
# q = hnsw_vec(k) for k in FROM..TO, computed once (MATERIALIZED): written
# as `ORDER BY v <-> hnsw_vec(k)`, the vector would be recomputed for every
# row an exact scan reads, and for every row an index scan returns (the
# ORDER BY expression is also projected).
# HNSW_QUERY_FN (default hnsw_vec) names the generator, e.g. cluster_vec.
hnsw_queries() { echo "WITH qs AS MATERIALIZED (SELECT k, ${HNSW_QUERY_FN:-hnsw_vec}(k) AS q FROM generate_series($1, $2) k)"; }

# cluster_vec(i [, dims [, noise]]): a deterministic vector of cluster
# i % 100: the cluster's centre (elements in [-1, 1)) plus noise (elements in
# [-noise, noise), default 1.1), both from hnsw_vec's hash. Data with
# structure, as real embeddings have: uniform hnsw_vec data has none, and
# an IVF index then needs most of its lists for a good recall. Queries use
# i > 1,000,000 as for hnsw_vec.
# shellcheck disable=SC2016 # the $$ are SQL's
CLUSTER_VEC_SQL='CREATE OR REPLACE FUNCTION cluster_vec(i bigint, dims int DEFAULT 32, noise float8 DEFAULT 1.1) RETURNS embedding
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT array_agg((x - floor(x)) * 2 - 1 + noise * ((y - floor(y)) * 2 - 1) ORDER BY j)::embedding
    FROM (SELECT j, sin((2000000 + i % 100) * 12.9898::float8 + j * 78.233::float8) * 43758.5453::float8 AS x,
                    sin(i * 12.9898::float8 + j * 78.233::float8) * 43758.5453::float8 AS y
          FROM generate_series(1, dims) j) s
$$'

# dedicated_cluster_fresh NAME: stops and removes what an earlier run left
# of the test's own cluster NAME, so the test starts from scratch.
dedicated_cluster_fresh() {
    local old
    old="$(cluster_base "$1")"
    if [ -d "$old" ]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$old/data" -w -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$old"
    fi
}

# dedicated_cluster_teardown STATUS LABEL: for an EXIT trap. When STATUS is
# not 0, prints the last lines of the server.log of the cluster started with
# cluster_start (CLUSTER_DIR); then stops and removes that cluster.
dedicated_cluster_teardown() {
    if [ "$1" -ne 0 ] && [ -f "${CLUSTER_DIR:-}/server.log" ]; then
        echo "--- last lines of the $2 cluster's server.log:" >&2
        tail -40 "$CLUSTER_DIR/server.log" >&2
        repeat_failure
    fi
    if [ -n "${CLUSTER_DIR:-}" ]; then
        cluster_stop
        rm -rf "$CLUSTER_DIR"
    fi
}

# hnsw_wide_table DB WITH: table w of 300 rows of 1,024 dimensions and its
# ember_hnsw index w_v (WITH the given options), whose elements and coded
# neighbour tuples take two pages each (checked): an insert writes them
# with two WAL records.
hnsw_wide_table() {
    q -d "$1" <<SQL
CREATE TABLE w (id int PRIMARY KEY, v embedding(1024));
INSERT INTO w SELECT i, hnsw_vec(i, 1024) FROM generate_series(1, 300) i;
CREATE INDEX w_v ON w USING ember_hnsw (v embedding_l2_ops) $2;
SQL
    [ "$(qv -d "$1" -c "SELECT pg_relation_size('w_v') / 8192 >= 600")" = t ] ||
        fail "the 1,024-d index w_v does not take two pages per element: no neighbour codes?"
    ok "300 rows of 1,024 dimensions and an index w_v with its tuples on two pages each"
}

# hnsw_fresh_db DB: (re)creates DB with ember, hnsw_vec and cluster_vec.
hnsw_fresh_db() {
    q -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
    q -d "$1" -c "CREATE EXTENSION ember" -c "$HNSW_VEC_SQL" -c "$CLUSTER_VEC_SQL"
}

# hnsw_expect_index DB INDEX SETTINGS QUERY: EXPLAIN (COSTS OFF) of QUERY,
# after SETTINGS (may be empty), shows `Index Scan using INDEX`.
hnsw_expect_index() {
    local db="$1" index="$2" settings="$3" query="$4" plan
    local args=(-d "$db")
    [ -z "$settings" ] || args+=(-c "$settings")
    plan=$(qv "${args[@]}" -c "EXPLAIN (COSTS OFF) $query") || fail "EXPLAIN failed for: $query"
    if ! grep -q "Index Scan using $index on" <<<"$plan"; then
        printf '%s\n' "$plan" >&2
        fail "expected 'Index Scan using $index' in the plan above of: $query"
    fi
}

# index_verify_fn DB INDEX: the name of the verify function for INDEX's
# access method: ember_hnsw_verify or ember_ivf_verify.
index_verify_fn() {
    local am
    am=$(qv -d "$1" -c "SELECT a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = '$2'::regclass") ||
        fail "could not look up the access method of $2 in database $1"
    case "$am" in
        ember_hnsw | ember_ivf) echo "${am}_verify" ;;
        *) fail "$2 in database $1 is an index of access method '$am', not ember_hnsw or ember_ivf" ;;
    esac
}

# hnsw_verify DB INDEX: prints what ember_hnsw_verify(INDEX) (ember_ivf_verify
# for an ember_ivf index) returns; fails with its message (and SQLSTATE) if it
# raises.
hnsw_verify() {
    local out fn
    fn=$(index_verify_fn "$1" "$2")
    if ! out=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$1" \
            -c "SELECT $fn('$2'::regclass)" 2>&1); then
        fail "$fn('$2') in database $1 raised: $out"
    fi
    [[ "$out" =~ ^[0-9]+$ ]] || fail "$fn('$2') in database $1 returned '$out', expected a count"
    echo "$out"
}

# hnsw_check_verify DB INDEX TABLE [COLUMN]: ember_hnsw_verify (or
# ember_ivf_verify) passes and its count of live elements (entries) equals the
# number of rows with a non-NULL COLUMN. Only exact once VACUUM has removed
# dead tuples (otherwise use hnsw_verify).
hnsw_check_verify() {
    local db="$1" index="$2" table="$3" col="${4:-v}" n expected fn
    fn=$(index_verify_fn "$db" "$index")
    n=$(hnsw_verify "$db" "$index")
    expected=$(qv -d "$db" -c "SELECT count($col) FROM $table")
    [ "$n" = "$expected" ] ||
        fail "$fn('$index') returned $n live elements, expected $expected (rows of $table with a non-NULL $col)"
    ok "$fn('$index') passes, $n live elements = rows of $table with a vector"
}

# hnsw_self_lookup DB TABLE INDEX IDS_QUERY [SETTINGS]: for every id that
# IDS_QUERY returns (one int column), the row is in TABLE (columns id, v) and
# an index scan for its own vector, `ORDER BY v <-> (its v) LIMIT 1`, returns
# it (or a row at distance 0). The plan is checked to use INDEX.
hnsw_self_lookup() {
    local db="$1" table="$2" index="$3" ids="$4" settings="${5:-$HNSW_FORCE SET ember.hnsw_ef_search = 100;}"
    local missing bad n
    missing=$(qv -d "$db" -c "SELECT c.id FROM ($ids) c(id) WHERE NOT EXISTS (SELECT FROM $table t WHERE t.id = c.id) ORDER BY 1")
    [ -z "$missing" ] ||
        fail "$(wc -l <<<"$missing") ids expected in $table are missing, the first: $(head -10 <<<"$missing" | tr '\n' ' ')"
    local query="SELECT c.id, n.id AS found, n.d
        FROM ($ids) c(id) JOIN $table t0 ON t0.id = c.id
        CROSS JOIN LATERAL (SELECT t1.id, t1.v <-> t0.v AS d FROM $table t1 ORDER BY t1.v <-> t0.v LIMIT 1) n
        WHERE n.id IS DISTINCT FROM c.id AND n.d IS DISTINCT FROM 0"
    hnsw_expect_index "$db" "$index" "$settings" "$query"
    bad=$(qv -d "$db" -c "$settings" -c "$query")
    n=$(qv -d "$db" -c "SELECT count(*) FROM ($ids) c(id)")
    if [ -n "$bad" ]; then
        echo "id|top-1 found instead|its distance" >&2
        head -10 <<<"$bad" >&2
        fail "$(wc -l <<<"$bad") of $n rows of $table are not the top-1 of an index scan for their own vector (first 10 above)"
    fi
    ok "all $n rows looked up in $table are present and the top-1 of an index scan ($index) for their own vector"
}

# hnsw_recall DB INDEX SETTINGS ARRAY_EXPR FROM TO: for the query vectors
# q = hnsw_vec(k), k in FROM..TO, ARRAY_EXPR (an int[] of ids in rank order,
# using q, e.g. "ARRAY(SELECT id FROM t ORDER BY v <-> q LIMIT 10)") is
# evaluated exactly (indexes off) and then after SETTINGS, whose plan must
# use INDEX. Prints "recall|min rows|max rows" of the approximate answers:
# recall is the share of the exact answers' ids that they contain.
hnsw_recall() {
    local db="$1" index="$2" settings="$3" expr="$4" from="$5" to="$6" with
    with=$(hnsw_queries "$from" "$to")
    hnsw_expect_index "$db" "$index" "$settings" "$with SELECT k, $expr FROM qs"
    qv -d "$db" <<SQL
$HNSW_EXACT
CREATE TEMP TABLE hnsw_exact AS $with SELECT k, $expr AS ids FROM qs;
RESET enable_indexscan; RESET enable_bitmapscan;
$settings
CREATE TEMP TABLE hnsw_approx AS $with SELECT k, $expr AS ids FROM qs;
SELECT round(sum((SELECT count(*) FROM unnest(a.ids) x WHERE x = ANY (e.ids)))::numeric
             / greatest(sum(cardinality(e.ids)), 1), 4),
       min(cardinality(a.ids)), max(cardinality(a.ids))
FROM hnsw_exact e JOIN hnsw_approx a USING (k);
SQL
}

# hnsw_at_least X MIN: X >= MIN as decimals.
hnsw_at_least() { awk -v x="$1" -v m="$2" 'BEGIN { exit !(x + 0 >= m + 0) }'; }

# hnsw_topk DB SETTINGS TABLE FROM TO K [WHERE [ORDER]]: one line per query k
# in FROM..TO, "k|{ids of ORDER BY v <-> hnsw_vec(k) LIMIT K}", to compare.
# ORDER (default "v <-> q") replaces the ORDER BY expression, e.g.
# "h <=> q::halfembedding".
hnsw_topk() {
    local db="$1" settings="$2" table="$3" from="$4" to="$5" k="$6" where="${7:-}" order="${8:-v <-> q}"
    local args=(-d "$db")
    [ -z "$settings" ] || args+=(-c "$settings")
    qv "${args[@]}" -c "$(hnsw_queries "$from" "$to")
                         SELECT k, ARRAY(SELECT id FROM $table $where ORDER BY $order LIMIT $k) FROM qs ORDER BY k"
}

# hnsw_strict_order DB SETTINGS TABLE FROM TO K [WHERE [MIN]]: with SETTINGS
# (which should set ember.iterative_scan = strict_order), each query returns
# K rows (at least MIN, when given) whose distances, recomputed from the heap rows, never decrease (to a
# relative 1e-5, for rounding differences between the index's and the
# operator's kernels). A stale heap TID in the graph would break the order.
hnsw_strict_order() {
    local db="$1" settings="$2" table="$3" from="$4" to="$5" k="$6" where="${7:-}" min="${8:-$6}" out
    local args=(-d "$db")
    [ -z "$settings" ] || args+=(-c "$settings")
    out=$(qv "${args[@]}" -c "$(hnsw_queries "$from" "$to"),
        r AS (SELECT k, ARRAY(SELECT v <-> q FROM $table $where ORDER BY v <-> q LIMIT $k) AS ds FROM qs)
        SELECT 'query ' || k || ' returned ' || cardinality(ds) || ' rows, expected $min to $k' FROM r
        WHERE cardinality(ds) NOT BETWEEN $min AND $k
        UNION ALL
        SELECT 'query ' || r.k || ': row ' || u.i || ' at distance ' || u.d || ' comes after one at ' || ds[u.i - 1]
        FROM r, unnest(r.ds) WITH ORDINALITY u(d, i)
        WHERE u.i > 1 AND u.d < ds[u.i - 1] - 1e-5 * greatest(ds[u.i - 1], 1)")
    [ -z "$out" ] || { printf '%s\n' "$out" | head -20 >&2; fail "strict_order scans of $table: rows missing or out of distance order (above)"; }
}

# empty_index_then_inserts DB AM WITH IDS [SETTINGS]: an index of AM (WITH
# its options) created on an empty table: used by the planner, every
# iterative mode finds nothing, verify counts 0; then 1,000 inserted rows
# (and 10 NULL vectors) verify, and the rows IDS selects are each found
# by an index scan for their own vector (under SETTINGS).
empty_index_then_inserts() {
    local db="$1" am="$2" with="$3" ids="$4" settings="${5:-}" n mode b
    hnsw_fresh_db "$db"
    q -d "$db" -c "CREATE TABLE e (id int PRIMARY KEY, v embedding(32))" \
        -c "CREATE INDEX e_v_idx ON e USING $am (v embedding_l2_ops) $with"
    hnsw_expect_index "$db" e_v_idx "$HNSW_FORCE" "SELECT id FROM e ORDER BY v <-> hnsw_vec(1000001) LIMIT 10"
    for mode in off relaxed_order strict_order; do
        n=$(qv -d "$db" -c "$HNSW_FORCE SET ember.iterative_scan = $mode;" \
            -c "SELECT count(*) FROM (SELECT id FROM e ORDER BY v <-> hnsw_vec(1000001) LIMIT 10) s")
        [ "$n" = 0 ] || fail "a search of an empty $am index ($mode) returned $n rows, expected 0"
    done
    n=$(hnsw_verify "$db" e_v_idx)
    [ "$n" = 0 ] || fail "verify of an empty $am index returned $n, expected 0"
    for b in $(seq 0 9); do
        q -d "$db" -c "INSERT INTO e SELECT i, hnsw_vec(i) FROM generate_series($((b * 100 + 1)), $((b * 100 + 100))) i"
    done
    q -d "$db" -c "INSERT INTO e SELECT i, NULL FROM generate_series(1001, 1010) i"
    if [ -n "$settings" ]; then
        hnsw_self_lookup "$db" e e_v_idx "$ids" "$settings"
    else
        hnsw_self_lookup "$db" e e_v_idx "$ids"
    fi
    hnsw_check_verify "$db" e_v_idx e
}
