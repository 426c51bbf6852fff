#!/usr/bin/env bash
# Top-10 by `doc @# query` over 3,000 multiembedding documents equals the
# exact ranking computed independently in Rust (tests/fixtures), ids in
# order and scores to 1e-4.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

cargo run -q --release --manifest-path "$root/Cargo.toml" -p ember-fixtures -- maxsim "$work"
q -d postgres -c "DROP DATABASE IF EXISTS ember_maxsim" -c "CREATE DATABASE ember_maxsim"
q -d ember_maxsim -c "CREATE EXTENSION ember" \
    -c "CREATE TABLE docs (id int PRIMARY KEY, doc multiembedding(24))" \
    -c "CREATE TABLE queries (qid int PRIMARY KEY, q multiembedding(24))" \
    -c "\\copy docs FROM '$work/docs.tsv'" -c "\\copy queries FROM '$work/queries.tsv'"

q -d ember_maxsim -At -F $'\t' -c "
    SELECT qid, rank, id, score FROM queries,
    LATERAL (SELECT row_number() OVER (ORDER BY doc @# q, id) AS rank, id, -(doc @# q) AS score
             FROM docs ORDER BY doc @# q, id LIMIT 10) top
    ORDER BY qid, rank" > "$work/got.tsv"

# ids must match exactly; scores to a relative 1e-4 (SIMD and scalar sum in different orders)
paste "$work/expected.tsv" "$work/got.tsv" | awk -F'\t' '
    { if ($1 != $5 || $2 != $6 || $3 != $7) { print "rank mismatch: expected", $1, $2, $3, "got", $5, $6, $7; bad = 1 }
      d = $4 - $8; if (d < 0) d = -d; s = $4 < 0 ? -$4 : $4;
      if (d > 1e-4 * (s + 1)) { print "score mismatch:", $0; bad = 1 } ; n++ }
    END { if (n != 50) { print "expected 50 rows, got", n; bad = 1 }; exit bad }'
echo "top-10 of 5 queries over 3000 documents equal the Rust exact ranking"

# MaxSim is asymmetric: both argument orders against the Rust reference.
q -d ember_maxsim -At -c "SELECT maxsim('[[1,0],[0,1]]', '[[1,0]]'), maxsim('[[1,0]]', '[[1,0],[0,1]]')" | grep -qx '1|1' ||
    { echo "asymmetry check failed"; exit 1; }
q -d postgres -c "DROP DATABASE ember_maxsim"
