#!/usr/bin/env bash
# pg_dump / pg_restore (plain and custom format) and COPY (FORMAT binary)
# round trips of a table holding all four types, compared value by value.
# Runs against the cluster scripts/test.sh started (PGHOST/PGPORT set).
set -euo pipefail
PG_BIN=/usr/lib/postgresql/15/bin
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

for db in ember_dump_src ember_dump_plain ember_dump_custom ember_copy; do
    q -d postgres -c "DROP DATABASE IF EXISTS $db"
    q -d postgres -c "CREATE DATABASE $db"
done

q -d ember_dump_src <<'SQL'
CREATE EXTENSION ember;
CREATE TABLE t (id int PRIMARY KEY, e embedding(16), h halfembedding(16), s sparseembedding(100000), free embedding, m multiembedding(3));
-- deterministic pseudo-random values, including extremes and NULLs
INSERT INTO t
SELECT i,
       ARRAY(SELECT sin(i * 16 + j) * 10 ^ ((i + j) % 30 - 15) FROM generate_series(1, 16) j)::embedding,
       ARRAY(SELECT cos(i * 16 + j) * 100 FROM generate_series(1, 16) j)::halfembedding,
       ('{' || i || ':' || (i * 0.37) || ',' || (i + 50000) || ':-' || (1.0 / i) || '}/100000')::sparseembedding,
       CASE WHEN i % 5 = 0 THEN NULL ELSE ARRAY(SELECT j * 1e-30 FROM generate_series(1, i % 40 + 1) j)::embedding END,
       ARRAY(SELECT ARRAY[sin(i + k), cos(i * k), k * 1e-3]::embedding FROM generate_series(1, i % 7 + 1) k)::multiembedding
FROM generate_series(1, 500) i;
INSERT INTO t VALUES (0, array_fill(3.4028235e38::real, ARRAY[16])::embedding, array_fill(65504, ARRAY[16])::halfembedding,
                      '{}/100000', '[1.4e-45,-0]', '[[3.4028235e38,-1.4e-45,0]]');
SQL

# Compares every value of t in database $1 with the source, as text and as binary.
compare() {
    local diff
    diff=$(q -d "$1" -At -c "SELECT count(*) FROM t" )
    [ "$diff" = "501" ] || { echo "$1: expected 501 rows, got $diff"; return 1; }
    q -d ember_dump_src -At -c "COPY (SELECT id, e, h, s, free, m, embedding_send(e), halfembedding_send(h), sparseembedding_send(s), multiembedding_send(m) FROM t ORDER BY id) TO STDOUT" > "$work/src.txt"
    q -d "$1" -At -c "COPY (SELECT id, e, h, s, free, m, embedding_send(e), halfembedding_send(h), sparseembedding_send(s), multiembedding_send(m) FROM t ORDER BY id) TO STDOUT" > "$work/$1.txt"
    cmp "$work/src.txt" "$work/$1.txt" || { echo "$1 differs from the source"; diff "$work/src.txt" "$work/$1.txt" | head; return 1; }
    echo "$1: 501 rows identical"
}

"$PG_BIN/pg_dump" -d ember_dump_src -f "$work/plain.sql"
q -d ember_dump_plain -f "$work/plain.sql" >/dev/null
compare ember_dump_plain

"$PG_BIN/pg_dump" -d ember_dump_src -Fc -f "$work/custom.dump"
"$PG_BIN/pg_restore" -d ember_dump_custom "$work/custom.dump"
compare ember_dump_custom

q -d ember_copy -c "CREATE EXTENSION ember" -c "CREATE TABLE t (id int PRIMARY KEY, e embedding(16), h halfembedding(16), s sparseembedding(100000), free embedding, m multiembedding(3))"
q -d ember_dump_src -c "\\copy t TO '$work/t.bin' (FORMAT binary)"
q -d ember_copy -c "\\copy t FROM '$work/t.bin' (FORMAT binary)"
compare ember_copy
# A binary COPY into a narrower typmod is refused, not truncated.
q -d ember_copy -c "CREATE TABLE narrow (id int, e embedding(8), h halfembedding(16), s sparseembedding(100000), free embedding, m multiembedding(3))"
if q -d ember_copy -c "\\copy narrow FROM '$work/t.bin' (FORMAT binary)" 2>"$work/err"; then
    echo "binary COPY into embedding(8) should have failed"; exit 1
fi
grep -q "expected 8 dimensions, not 16" "$work/err" || { cat "$work/err"; exit 1; }
echo "binary COPY into a narrower typmod refused: $(head -1 "$work/err")"

for db in ember_dump_src ember_dump_plain ember_dump_custom ember_copy; do
    q -d postgres -c "DROP DATABASE $db"
done
