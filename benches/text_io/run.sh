#!/usr/bin/env bash
# Text I/O of vector values: ember's embedding against pgvector's vector on
# the same values (see benches/README.md, "Text output and input").
#
#   benches/text_io/run.sh [ROWS [DIM]]    # default 2,000 x 1,536
#
# Output: every value printed as text (`sum(octet_length(v::text))`, what COPY TO,
# pg_dump and clients reading text pay). Input: the same texts parsed back
# (`sum(dims(t::embedding))`, `vector_dims(t::vector)`, what COPY FROM and
# text parameters pay). Best of 5, the two types interleaved, in one session.
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/../common/bench.sh"
rows="${1:-2000}" dim="${2:-1536}"

bench_pgvector
[ -n "$PGVECTOR_VERSION" ] || { echo "pgvector is needed: export EMBER_PGVECTOR_SRC=/path/to/pgvector-source" >&2; exit 1; }
bench_cluster text_bench ember_hnsw
psql -X -q -d text_bench -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION IF NOT EXISTS vector;
DROP TABLE IF EXISTS t;
-- Values like a model's output: normal draws scaled to about unit norm.
SELECT setseed(0.5);
CREATE TABLE t AS
SELECT i, ('[' || string_agg((sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) / sqrt($dim))::real::text, ',') || ']') AS txt
FROM generate_series(1, $rows) i, generate_series(1, $dim) j GROUP BY i;
ALTER TABLE t ADD COLUMN e embedding, ADD COLUMN p vector;
UPDATE t SET e = txt::embedding, p = txt::vector;
VACUUM ANALYZE t;
SQL
say "text I/O of $rows values of $dim dimensions (best of 5 ms, interleaved)"
# best_ms SQL: the fastest of 5 runs of SQL, in ms (psql's \timing).
declare -A best
for pass in 1 2 3 4 5; do
    for what in out_e out_p in_e in_p; do
        case "$what" in
            out_e) sql="SELECT sum(octet_length(e::text)) FROM t" ;;
            out_p) sql="SELECT sum(octet_length(p::text)) FROM t" ;;
            in_e) sql="SELECT sum(dims(txt::embedding)) FROM t" ;;
            in_p) sql="SELECT sum(vector_dims(txt::vector)) FROM t" ;;
        esac
        ms=$(psql -X -q -d text_bench -c '\timing on' -c "$sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
        if [ -z "${best[$what]:-}" ] || awk -v a="$ms" -v b="${best[$what]}" 'BEGIN { exit !(a < b) }'; then best[$what]="$ms"; fi
    done
    echo "pass $pass: output ember ${best[out_e]} ms, pgvector ${best[out_p]} ms; input ember ${best[in_e]} ms, pgvector ${best[in_p]} ms (best so far)"
done
same=$(psql -X -d text_bench -Atc "SELECT count(*) FILTER (WHERE e::text <> p::text) FROM t")
echo "values whose text differs between the two types: $same"
awk -v oe="${best[out_e]}" -v op="${best[out_p]}" -v ie="${best[in_e]}" -v ip="${best[in_p]}" -v n="$rows" -v d="$dim" 'BEGIN {
    printf "| direction | ember ms | pgvector ms | ember ns a value | pgvector / ember |\n|---|---:|---:|---:|---:|\n"
    printf "| output (v::text) | %.1f | %.1f | %.0f | %.2fx |\n", oe, op, oe * 1e6 / (n * d), op / oe
    printf "| input (text::type) | %.1f | %.1f | %.0f | %.2fx |\n", ie, ip, ie * 1e6 / (n * d), ip / ie
}'
