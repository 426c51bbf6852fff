#!/usr/bin/env bash
# Recall@10 of ember_hnsw at default settings (m 16, ef_construction 64,
# ember.hnsw_ef_search 40) against the exact scan, on the deterministic
# clustered data set of 10,000 x 128 from tests/fixtures (100 clusters of
# intrinsic dimension 32, as real embeddings have), for every opclass: embedding and
# halfembedding (l2, ip, cosine, l1) and sparseembedding (l2, ip, cosine).
# Passes when every opclass reaches recall@10 >= 0.95 over 50 queries.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cargo run -q --release --manifest-path "$root/Cargo.toml" -p ember-fixtures -- clustered "$work"
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -v ON_ERROR_STOP=1 -d ember_hnsw_recall "$@"; }
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS ember_hnsw_recall" -c "CREATE DATABASE ember_hnsw_recall"

q -v work="$work" <<'SQL'
CREATE EXTENSION ember;
CREATE TABLE items (id int PRIMARY KEY, v embedding(128), h halfembedding(128), s sparseembedding(128));
CREATE TABLE queries (qid int PRIMARY KEY, v embedding(128), h halfembedding(128), s sparseembedding(128));
\set items_file :work '/items.tsv'
\set queries_file :work '/queries.tsv'
COPY items (id, v) FROM :'items_file';
COPY queries (qid, v) FROM :'queries_file';
-- halfembedding: the same vectors; sparseembedding: their entries above 0.3.
UPDATE items SET h = v::halfembedding,
                 s = ARRAY(SELECT CASE WHEN e > 0.3 THEN e ELSE 0 END FROM unnest(v::real[]) e)::embedding::sparseembedding;
UPDATE queries SET h = v::halfembedding,
                   s = ARRAY(SELECT CASE WHEN e > 0.3 THEN e ELSE 0 END FROM unnest(v::real[]) e)::embedding::sparseembedding;
ANALYZE items;

-- Mean recall@10 of the index scan for column `col` and operator `op`.
CREATE FUNCTION recall(col text, op text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE r record; hits int := 0; total int := 0; got int[]; want int[];
BEGIN
    FOR r IN SELECT qid FROM queries ORDER BY qid LOOP
        SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = on;
        EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY %I %s (SELECT %I FROM queries WHERE qid = $1) LIMIT 10) t', col, op, col)
            INTO got USING r.qid;
        SET LOCAL enable_seqscan = on; SET LOCAL enable_indexscan = off;
        EXECUTE format('SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY %I %s (SELECT %I FROM queries WHERE qid = $1) LIMIT 10) t', col, op, col)
            INTO want USING r.qid;
        hits := hits + (SELECT count(*) FROM unnest(got) g WHERE g = ANY (want));
        total := total + 10;
    END LOOP;
    RETURN hits::float8 / total;
END $$;
SQL

fail=0
for spec in "v embedding_l2_ops <->" "v embedding_ip_ops <#>" "v embedding_cosine_ops <=>" "v embedding_l1_ops <+>" \
            "h halfembedding_l2_ops <->" "h halfembedding_ip_ops <#>" "h halfembedding_cosine_ops <=>" "h halfembedding_l1_ops <+>" \
            "s sparseembedding_l2_ops <->" "s sparseembedding_ip_ops <#>" "s sparseembedding_cosine_ops <=>"; do
    read -r col opclass op <<<"$spec"
    start=$(date +%s.%N)
    q -c "CREATE INDEX idx ON items USING ember_hnsw ($col $opclass)"
    built=$(date +%s.%N)
    r=$(q -At -c "SELECT round(recall('$col', '$op')::numeric, 4)")
    q -At -c "SELECT ember_hnsw_verify('idx')" >/dev/null
    q -c "DROP INDEX idx"
    printf '%-28s recall@10 %s  (build %.1f s)\n' "$opclass" "$r" "$(awk "BEGIN { print $built - $start }")"
    if ! awk "BEGIN { exit !($r >= 0.95) }"; then echo "FAIL: $opclass recall@10 $r < 0.95"; fail=1; fi
done
psql -X -q -d postgres -c "DROP DATABASE ember_hnsw_recall"
exit $fail
