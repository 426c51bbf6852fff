#!/usr/bin/env bash
# Crash recovery of an ember_ivf index: hnsw_crash.sh with EMBER_AM=ivf (see
# there). A SIGKILL of the server during single-row inserts into a table with
# an ember_ivf index (20 lists, SQ8 codes); after crash recovery (generic WAL
# records checked by wal_consistency_checking) every committed row is in the
# list of its nearest centroid (found with ember.ivf_probes = 1),
# ember_ivf_verify passes, and inserts and searches still work.
EMBER_AM=ivf exec bash "$(dirname "$0")/hnsw_crash.sh"
