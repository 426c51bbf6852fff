#!/usr/bin/env bash
# An ember_ivf index on a streaming replica: hnsw_replica.sh with EMBER_AM=ivf
# (see there). A pg_basebackup standby of a primary with an ember_ivf index
# (50 lists, SQ8 codes) replays inserts, deletes, a VACUUM and inserts into
# the room it freed (generic WAL records checked by wal_consistency_checking);
# then the top-10s of 20 queries (10 probes) and their top-200s (an iterative
# scan from one probe on) on the standby equal the primary's, id for id, no
# deleted row is returned, and ember_ivf_verify passes on both.
EMBER_AM=ivf exec bash "$(dirname "$0")/hnsw_replica.sh"
