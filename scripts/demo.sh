#!/usr/bin/env bash
# The main job: install every dependency, build and install ember into
# PostgreSQL 15, start a private cluster (.ember/demo, port 54315), create
# the extension, load a demo table and run example queries.
source "$(dirname "$0")/lib.sh"

ember_setup
ember_install
ember_models
say "starting the demo cluster"
cluster_start demo 54315
echo "cluster: $CLUSTER_DIR/data  (connect: psql -h $PGHOST -p $PGPORT -U postgres ember_demo)"

psql -q -d postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'ember_demo'" | grep -q 1 ||
    psql -q -d postgres -c "CREATE DATABASE ember_demo"

say "loading the demo and running example queries"
psql -X -v ON_ERROR_STOP=1 -d ember_demo -f "$EMBER_ROOT/scripts/demo.sql"
say "encoding a real corpus (WordNet noun glosses) and searching it"
corpus_dir="$(cluster_base demo-corpus)"
mkdir -p "$corpus_dir"
# Every 20th noun synset of WordNet 3.0: id, first lemma, gloss (tab-separated).
grep -v '^  ' /usr/share/wordnet/data.noun | awk 'NR % 20 == 1 {
    split($0, parts, " [|] "); split(parts[1], f, " ");
    lemma = f[5]; gsub("_", " ", lemma); gloss = parts[2];
    gsub(/[\\\t]/, " ", gloss); sub(/ +$/, "", gloss);
    print NR "\t" lemma "\t" gloss }' > "$corpus_dir/corpus.tsv"
(cd "$corpus_dir" && psql -X -v ON_ERROR_STOP=1 -d ember_demo -f "$EMBER_ROOT/scripts/demo_search.sql")
say "done: the cluster keeps running; stop it with: runuser -u postgres -- $PG_BIN/pg_ctl -D $CLUSTER_DIR/data stop"
