#!/usr/bin/env bash
# Concurrent use of an ember_ivf index: hnsw_concurrency.sh with EMBER_AM=ivf
# (see there). 4 inserters, 2 searchers and a client deleting, searching and
# VACUUMing at once on an ember_ivf index (20 lists, SQ8 codes); then no
# client saw an error, the table holds exactly the expected rows, each in the
# list of its nearest centroid, ember_ivf_verify counts them, iterative scans
# through all lists return every live row once and no deleted one,
# strict_order scans stay in distance order, and recall@10 is at least 0.9.
EMBER_AM=ivf exec bash "$(dirname "$0")/hnsw_concurrency.sh"
